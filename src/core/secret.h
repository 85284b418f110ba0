/* Access keys at rest: stored encrypted (AES-256-GCM) in
 * guestflow.connections.secret_enc, under a key kept outside the
 * database: secrets.key_file, or the systemd credential secrets.key.
 *
 * The key file holds exactly 32 random bytes, private to its owner (mode
 * 0600). It is created on first use, and only then: when the database has
 * no key registered and no encrypted access key (a fresh install). Ever
 * after, a missing, unreadable, wrong-size or wrong key file is an error
 * naming the file; guestflow never makes a new key over stored ones.
 * guestflow.secret_keys registers each key by fingerprint (never the key),
 * so that a process knows before it encrypts or decrypts anything whether
 * its file holds the current key.
 *
 * A stored value: format byte 1 (AES-256-GCM), key id (1-255, the
 * registry's), 12-byte random nonce, ciphertext, 16-byte tag; associated
 * data: format, key id and the connection's id, so that a value copied into
 * another connection's row does not decrypt there. */
#ifndef GF_SECRET_H
#define GF_SECRET_H

#include <libpq-fe.h>
#include <stdint.h>

#include "core/config.h"

#define GF_SECRET_KEY_BYTES 32
/* The systemd credential that, when present in $CREDENTIALS_DIRECTORY,
 * holds the key instead of secrets.key_file (read only: never created,
 * never rotated there). */
#define GF_SECRET_CREDENTIAL "secrets.key"

struct gf_secret_error {
	char text[1024];
};

/* ---- the pure part (unit-tested) ------------------------------------------ */

/* The stored form of plain for the connection, as hex (for decode($n,
 * 'hex')), under key with id key_id (1-255). NULL when plain is empty or
 * the cipher failed. Caller frees. */
char *gf_secret_encrypt(const uint8_t key[GF_SECRET_KEY_BYTES], int key_id, int64_t connection_id,
                        const char *plain);
/* The access key in a stored value given as hex (encode(x, 'hex')). 0 and
 * *out (caller wipes and frees); -EINVAL not a stored value; -ENOKEY it was
 * stored under another key id (*stored_key_id says which); -EBADMSG the key
 * or the connection does not match, or the value was altered. */
int gf_secret_decrypt(const uint8_t key[GF_SECRET_KEY_BYTES], int key_id, int64_t connection_id,
                      const char *hex, char **out, int *stored_key_id);
/* A key's fingerprint: 32 hex digits of SHA-256 over a label and the key. */
void gf_secret_fingerprint(const uint8_t key[GF_SECRET_KEY_BYTES], char out[33]);

/* ---- this process's key ----------------------------------------------------- */

/* Load the key (creating the file on a fresh install), check it against the
 * registry, and encrypt every access key still stored in plain text (in one
 * transaction on c). Once per process; later calls return 0. Errors:
 * -GF_E_CONFIG for anything about the key file (err says what and names the
 * file), -GF_E_SCHEMA (schema too old), or a database error. */
int gf_secret_open(PGconn *c, const struct gf_config *cfg, struct gf_secret_error *err);

/* With the key loaded: the stored form (hex) of a connection's access key;
 * caller frees. -ENOKEY when no key is loaded. */
int gf_secret_seal(int64_t connection_id, const char *plain, char **hex);
/* With the key loaded: the access key of the stored value hex (NULL: none
 * stored); caller wipes (explicit_bzero) and frees. When the value names
 * another key id, the key file is read again once (a rekey may have
 * replaced it meanwhile). On failure it logs event=secret_unreadable
 * with the connection and the key file, and returns -ENOKEY or -EBADMSG. */
int gf_secret_unseal(int64_t connection_id, const char *hex, char **plain);

/* Rotate: a new key in FILE.new, every stored access key re-encrypted under
 * it and the registry updated in one transaction; once that committed, the
 * old key kept as FILE.old and FILE.new renamed over FILE. A rotation cut short after
 * its commit is finished by the next gf_secret_open(). *count: access keys
 * re-encrypted. Needs gf_secret_open() first; refused (-GF_E_CONFIG) for a
 * key from a systemd credential; -GF_E_DATA (nothing changed) when a stored
 * value does not decrypt. */
int gf_secret_rekey(PGconn *c, int64_t *count, struct gf_secret_error *err);

/* The key file in use (after gf_secret_open), else "(none)". */
const char *gf_secret_source(void);
/* The registry id of the key in use, 0 before gf_secret_open(). */
int gf_secret_key_id(void);
/* Wipe the key from memory. */
void gf_secret_close(void);

#endif
