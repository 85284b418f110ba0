/* The advisory locks guestflow takes, in one place: each is the two-integer
 * form pg_advisory_*lock(class, key) with a fixed class id of its own, so
 * that the locks cannot collide with each other nor with the single-bigint
 * locks another application takes in the same database (pg_locks shows
 * them as classid = class, objid = key, objsubid = 2). The class ids are
 * 0x6766 ('gf') in the high half and a number per lock in the low half;
 * they are part of what operators may see and must never change meaning. */
#ifndef GF_LOCKS_H
#define GF_LOCKS_H

/* 1734737921 and 1734737922 were the planning and members locks, gone
 * since the deliveries' key decides who plans a pair (issue 15): retired,
 * never to be reused. */
/* `db migrate` (migrate.c): one lock, key 0. */
#define GF_LOCK_CLASS_MIGRATE "1734737923"
/* The key for access keys at rest (secret.c): registering it, encrypting
 * plain-text keys, rotating it; one transaction lock, key 0. */
#define GF_LOCK_CLASS_SECRETS "1734737924"

#endif
