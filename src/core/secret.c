/* Access keys at rest: AES-256-GCM under a key file kept outside the database. */
#include "core/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"
#include "base/locks.h"
#include "base/log.h"

#define FORMAT_AES256GCM 1
#define HEADER_BYTES 2
#define NONCE_BYTES 12
#define TAG_BYTES 16

/* The key of this process. */
static struct {
	bool loaded;
	bool credential;   /* from $CREDENTIALS_DIRECTORY: never created or rotated there */
	int id;
	uint8_t key[GF_SECRET_KEY_BYTES];
	char *path;
} K;

/* ---- the pure part ------------------------------------------------------------ */

static size_t make_aad(uint8_t *out, size_t cap, int key_id, int64_t connection_id)
{
	out[0] = FORMAT_AES256GCM;
	out[1] = (uint8_t)key_id;
	/* The column's name when the format was made (now secret_enc): part of
	 * every stored ciphertext's associated data, so it stays as it is. */
	int n = snprintf((char *)out + HEADER_BYTES, cap - HEADER_BYTES, "guestflow.connections.access_key:%lld",
	                 (long long)connection_id);
	return HEADER_BYTES + (size_t)n;
}

/* One AES-256-GCM operation; for decryption tag is the expected tag. */
static int aead(bool enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	if (!x)
		return -ENOMEM;
	int len = 0, fin = 0;
	int ok = EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
	         EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) == 1 &&
	         EVP_CipherInit_ex(x, NULL, NULL, key, nonce, enc) == 1 &&
	         EVP_CipherUpdate(x, NULL, &len, aad, (int)aad_len) == 1 &&
	         EVP_CipherUpdate(x, out, &len, in, (int)n) == 1;
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(x, out + len, &fin) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, tag) == 1;
	EVP_CIPHER_CTX_free(x);
	return ok ? 0 : enc ? -EIO : -EBADMSG;
}

static char *to_hex(const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = gf_xmalloc(2 * n + 1);
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = '\0';
	return s;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* hex into a new buffer (*out, caller frees); -EINVAL when it is not hex. */
static int from_hex(const char *s, uint8_t **out, size_t *n)
{
	size_t len = strlen(s);
	if (len % 2)
		return -EINVAL;
	uint8_t *p = gf_xmalloc(len / 2 + 1);
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(p);
			return -EINVAL;
		}
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = p;
	*n = len / 2;
	return 0;
}

char *gf_secret_encrypt(const uint8_t key[GF_SECRET_KEY_BYTES], int key_id, int64_t connection_id,
                        const char *plain)
{
	size_t n = plain ? strlen(plain) : 0;
	if (n == 0 || key_id < 1 || key_id > 255)
		return NULL;
	size_t total = HEADER_BYTES + NONCE_BYTES + n + TAG_BYTES;
	uint8_t *v = gf_xmalloc(total);
	uint8_t aad[64];
	size_t aad_len = make_aad(aad, sizeof(aad), key_id, connection_id);
	memcpy(v, aad, HEADER_BYTES);
	char *hex = NULL;
	/* A random nonce per value: with 96 bits, a repeat under one key is
	 * out of reach for the few values a key ever encrypts. */
	if (RAND_bytes(v + HEADER_BYTES, NONCE_BYTES) == 1 &&
	    aead(true, key, v + HEADER_BYTES, aad, aad_len, (const uint8_t *)plain, n,
	         v + HEADER_BYTES + NONCE_BYTES, v + HEADER_BYTES + NONCE_BYTES + n) == 0)
		hex = to_hex(v, total);
	explicit_bzero(v, total);
	free(v);
	return hex;
}

int gf_secret_decrypt(const uint8_t key[GF_SECRET_KEY_BYTES], int key_id, int64_t connection_id,
                      const char *hex, char **out, int *stored_key_id)
{
	uint8_t *v = NULL;
	size_t total = 0;
	if (!hex || from_hex(hex, &v, &total) < 0)
		return -EINVAL;
	if (total < HEADER_BYTES + NONCE_BYTES + 1 + TAG_BYTES || v[0] != FORMAT_AES256GCM) {
		free(v);
		return -EINVAL;
	}
	if (stored_key_id)
		*stored_key_id = v[1];
	if (v[1] != key_id) {
		free(v);
		return -ENOKEY;
	}
	size_t n = total - HEADER_BYTES - NONCE_BYTES - TAG_BYTES;
	uint8_t aad[64];
	size_t aad_len = make_aad(aad, sizeof(aad), key_id, connection_id);
	char *plain = gf_xmalloc(n + 1);
	int r = aead(false, key, v + HEADER_BYTES, aad, aad_len, v + HEADER_BYTES + NONCE_BYTES, n,
	             (uint8_t *)plain, v + HEADER_BYTES + NONCE_BYTES + n);
	free(v);
	plain[n] = '\0';
	/* A key with a NUL inside could not be sent as it was stored. */
	if (r == 0 && strlen(plain) != n)
		r = -EBADMSG;
	if (r < 0) {
		explicit_bzero(plain, n + 1);
		free(plain);
		return r;
	}
	*out = plain;
	return 0;
}

void gf_secret_fingerprint(const uint8_t key[GF_SECRET_KEY_BYTES], char out[33])
{
	static const char label[] = "guestflow secrets.key fingerprint v1";
	uint8_t in[sizeof(label) + GF_SECRET_KEY_BYTES];
	memcpy(in, label, sizeof(label));
	memcpy(in + sizeof(label), key, GF_SECRET_KEY_BYTES);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	if (EVP_Digest(in, sizeof(in), md, &md_len, EVP_sha256(), NULL) != 1 || md_len < 16)
		memset(md, 0, 16);
	explicit_bzero(in, sizeof(in));
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[32] = '\0';
}

/* ---- the key file --------------------------------------------------------------- */

static int fail(struct gf_secret_error *err, const char *fmt, ...) GF_PRINTF(2, 3);
static int fail(struct gf_secret_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return -GF_E_CONFIG;
}

static const char *user_name(void)
{
	struct passwd *pw = getpwuid(geteuid());
	return pw && pw->pw_name ? pw->pw_name : "this user";
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Make a rename or link in path's directory durable. */
static void sync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = slash && slash != path ? gf_xstrndup(path, (size_t)(slash - path)) : gf_xstrdup("/");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* The key in path: 0, -ENOENT (no such file), or -GF_E_CONFIG with err
 * saying why. A symlink is not followed: the file named is the file used. */
static int read_key(const char *path, bool private_mode, uint8_t key[GF_SECRET_KEY_BYTES],
                    struct gf_secret_error *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0 && errno == ELOOP)
		return fail(err, "secrets key %s is a symbolic link; guestflow reads its key only from a regular"
		            " file (name that file in secrets.key_file)", path);
	if (fd < 0)
		return fail(err, "cannot read the secrets key %s: %s (it must be readable by %s, the user guestflow"
		            " runs as)", path, strerror(errno), user_name());
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = fail(err, "cannot read the secrets key %s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		r = fail(err, "secrets key %s is not a regular file", path);
	else if (st.st_size != GF_SECRET_KEY_BYTES)
		r = fail(err, "secrets key %s holds %lld bytes, a key file exactly %d (random bytes): it is not a"
		         " guestflow key file, or it was cut short", path, (long long)st.st_size, GF_SECRET_KEY_BYTES);
	else if (private_mode && (st.st_mode & 077))
		r = fail(err, "secrets key %s is open to group or others (mode %04o); it must be private to its"
		         " owner: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
	size_t got = 0;
	while (r == 0 && got < GF_SECRET_KEY_BYTES) {
		ssize_t n = read(fd, key + got, GF_SECRET_KEY_BYTES - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = fail(err, "cannot read the secrets key %s: %s", path, n < 0 ? strerror(errno) : "file shrank");
		else
			got += (size_t)n;
	}
	close(fd);
	return r;
}

/* Write key into a new file at path, or fail with -EEXIST when there is one
 * (whatever it is, a symlink too). The file appears whole or not at all: it
 * is written under a temporary name (mkstemp: O_EXCL, mode 0600, owned by
 * the running user), flushed to disk, then linked to path (link() never
 * replaces anything). */
static int write_new_key(const char *path, const uint8_t key[GF_SECRET_KEY_BYTES], struct gf_secret_error *err)
{
	_cleanup_free_ char *tmp = gf_xasprintf("%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return fail(err, "cannot create the secrets key %s: %s (its directory must exist and be writable by"
		            " %s, the user guestflow runs as; guestflow@.service has StateDirectory=guestflow for"
		            " the default /var/lib/guestflow)", path, strerror(errno), user_name());
	int r = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (r == 0)
		r = write_all(fd, key, GF_SECRET_KEY_BYTES);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && link(tmp, path) < 0)
		r = -errno;
	unlink(tmp);
	if (r == -EEXIST)
		return r;
	if (r < 0)
		return fail(err, "cannot create the secrets key %s: %s", path, strerror(-r));
	sync_dir_of(path);
	return 0;
}

/* Replace path with key, whole (the copy of the previous key, FILE.old). */
static int replace_key_file(const char *path, const uint8_t key[GF_SECRET_KEY_BYTES], struct gf_secret_error *err)
{
	_cleanup_free_ char *tmp = gf_xasprintf("%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return fail(err, "cannot write %s: %s", path, strerror(errno));
	int r = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (r == 0)
		r = write_all(fd, key, GF_SECRET_KEY_BYTES);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return fail(err, "cannot write %s: %s", path, strerror(-r));
	}
	sync_dir_of(path);
	return 0;
}

/* ---- the registry ------------------------------------------------------------------ */

struct reg_key {
	int id;
	char fp[33];
	bool retired;
	char created[32], retired_at[32];
};

struct registry {
	struct reg_key v[256];
	int n;
	int current;   /* index into v, -1: none */
	bool stored;   /* some connection holds an encrypted access key */
};

static int load_registry(PGconn *c, struct registry *g)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "secret_keys",
		"SELECT id, fingerprint, retired_at IS NOT NULL, to_char(created_at, 'YYYY-MM-DD HH24:MI'),"
		" coalesce(to_char(retired_at, 'YYYY-MM-DD HH24:MI'), ''),"
		" EXISTS (SELECT 1 FROM guestflow.connections WHERE secret_enc IS NOT NULL)"
		" FROM guestflow.secret_keys ORDER BY id", 0, NULL);
	if (!r)
		return err;
	g->n = 0;
	g->current = -1;
	g->stored = false;
	for (int i = 0; i < PQntuples(r) && i < (int)GF_ARRAY_SIZE(g->v); i++) {
		struct reg_key *k = &g->v[g->n];
		k->id = (int)gf_db_get_int(r, i, 0);
		snprintf(k->fp, sizeof(k->fp), "%s", PQgetvalue(r, i, 1));
		k->retired = PQgetvalue(r, i, 2)[0] == 't';
		snprintf(k->created, sizeof(k->created), "%s", PQgetvalue(r, i, 3));
		snprintf(k->retired_at, sizeof(k->retired_at), "%s", PQgetvalue(r, i, 4));
		if (!k->retired)
			g->current = g->n;
		g->n++;
	}
	if (g->n == 0) {
		_cleanup_pgresult_ PGresult *s = gf_db_query(c, &err, "secret_stored",
			"SELECT EXISTS (SELECT 1 FROM guestflow.connections WHERE secret_enc IS NOT NULL)", 0, NULL);
		if (!s)
			return err;
		g->stored = PQgetvalue(s, 0, 0)[0] == 't';
	} else {
		g->stored = PQgetvalue(r, 0, 5)[0] == 't';
	}
	return 0;
}

static const struct reg_key *find_fp(const struct registry *g, const char *fp)
{
	for (int i = 0; i < g->n; i++)
		if (strcmp(g->v[i].fp, fp) == 0)
			return &g->v[i];
	return NULL;
}

/* The last steps of a rotation, once it has committed: the previous key
 * (old, NULL when FILE is gone already) kept as FILE.old, then FILE.new
 * renamed over FILE. FILE.old is written only now, so that a rotation that
 * never committed does not replace the key an older FILE.old holds. */
static int move_into_place(const char *path, const char *next, const uint8_t *old, struct gf_secret_error *err)
{
	if (old) {
		_cleanup_free_ char *keep = gf_xasprintf("%s.old", path);
		int r = replace_key_file(keep, old, err);
		if (r < 0)
			return r;
	}
	if (rename(next, path) < 0)
		return fail(err, "cannot rename %s to %s: %s", next, path, strerror(errno));
	sync_dir_of(path);
	return 0;
}

/* A rekey that committed but was cut short before FILE.new was renamed over
 * FILE: FILE.new holds the current key. Finish it (old: what FILE holds,
 * NULL when it is missing). 1: done, key set; 0: no such state. */
static int finish_rekey(const char *path, const struct registry *g, uint8_t key[GF_SECRET_KEY_BYTES],
                        const uint8_t *old)
{
	if (g->current < 0)
		return 0;
	_cleanup_free_ char *next = gf_xasprintf("%s.new", path);
	struct gf_secret_error ignored;
	uint8_t k[GF_SECRET_KEY_BYTES];
	if (read_key(next, true, k, &ignored) < 0)
		return 0;
	char fp[33];
	gf_secret_fingerprint(k, fp);
	if (strcmp(fp, g->v[g->current].fp) != 0 || move_into_place(path, next, old, &ignored) < 0) {
		explicit_bzero(k, sizeof(k));
		return 0;
	}
	memcpy(key, k, sizeof(k));
	explicit_bzero(k, sizeof(k));
	gf_warn("secrets_rekey_finished", "key_file=%s key_id=%d msg=%s", gf_log_q(path), g->v[g->current].id,
	        gf_log_q("a rekey was cut short after its commit: its new key file is now in place"));
	return 1;
}

/* Which key the file at path holds, against the registry: 0 and *id, or
 * -GF_E_CONFIG with err saying what is wrong and what to do. */
static int match_key(const char *path, const struct registry *g, uint8_t key[GF_SECRET_KEY_BYTES], bool credential,
                     int *id, struct gf_secret_error *err)
{
	char fp[33];
	gf_secret_fingerprint(key, fp);
	const struct reg_key *cur = g->current >= 0 ? &g->v[g->current] : NULL;
	if (cur && strcmp(cur->fp, fp) == 0) {
		*id = cur->id;
		return 0;
	}
	const struct reg_key *k = find_fp(g, fp);
	if (k && cur) {
		uint8_t old[GF_SECRET_KEY_BYTES];
		memcpy(old, key, sizeof(old));
		int done = credential ? 0 : finish_rekey(path, g, key, old);
		explicit_bzero(old, sizeof(old));
		if (done == 1) {
			*id = cur->id;
			return 0;
		}
		return fail(err, "secrets key %s holds key %d, which 'guestflow connection rekey' replaced on %s by key"
		            " %d (fingerprint %s): the access keys are encrypted under key %d now; copy the current"
		            " key file from the host that ran the rekey", path, k->id, k->retired_at, cur->id, cur->fp,
		            cur->id);
	}
	if (k || (!cur && g->n > 0))
		return fail(err, "guestflow.secret_keys has no current key (every key is retired): restore its rows"
		            " from a backup; nothing was changed with %s", path);
	if (cur)
		return fail(err, "secrets key %s is not the key the access keys are encrypted with (key %d,"
		            " fingerprint %s, created %s; this file's fingerprint is %s): restore that key file;"
		            " guestflow does not re-encrypt the stored access keys under another key", path,
		            cur->id, cur->fp, cur->created, fp);
	return 1; /* nothing registered */
}

/* Every access key still stored in plain text, encrypted under key id, in
 * the caller's transaction; *n counts them. */
static int encrypt_plain_rows(PGconn *c, const uint8_t key[GF_SECRET_KEY_BYTES], int id, int64_t *n)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "secret_plain_rows",
		"SELECT id, secret FROM guestflow.connections WHERE secret IS NOT NULL ORDER BY id FOR UPDATE",
		0, NULL);
	if (!r)
		return err;
	*n = 0;
	int e = 0;
	for (int i = 0; e == 0 && i < PQntuples(r); i++) {
		const char *conn = PQgetvalue(r, i, 0);
		char *hex = gf_secret_encrypt(key, id, gf_db_get_int(r, i, 0), PQgetvalue(r, i, 1));
		if (!hex) {
			gf_error("secret_not_encrypted", "connection=%s msg=%s", conn,
			         gf_log_q("the plain-text secret of this connection could not be encrypted (the"
			                  " cipher failed); it stays as it is"));
			continue;
		}
		e = gf_db_exec(c, "secret_encrypt_row",
			"UPDATE guestflow.connections SET secret_enc = decode($2, 'hex'), secret = NULL,"
			" updated_at = now() WHERE id = $1::bigint", 2, (const char *[]){ conn, hex });
		free(hex);
		if (e == 0)
			(*n)++;
	}
	/* The result held the plain texts: wiped before it is freed. */
	for (int i = 0; i < PQntuples(r); i++) {
		char *v = PQgetvalue(r, i, 1);
		explicit_bzero(v, strlen(v));
	}
	return e;
}

/* ---- this process's key --------------------------------------------------------- */

static int schema_ready(PGconn *c, struct gf_secret_error *err)
{
	int e;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &e, "secret_schema",
		"SELECT to_regclass('guestflow.secret_keys') IS NOT NULL", 0, NULL);
	if (!r)
		return e;
	if (PQgetvalue(r, 0, 0)[0] != 't') {
		snprintf(err->text, sizeof(err->text), "the guestflow schema is older than this guestflow (no"
		         " guestflow.secret_keys): run 'guestflow db migrate'");
		return -GF_E_SCHEMA;
	}
	return 0;
}

static int open_locked(PGconn *c, const char *path, bool credential, uint8_t key[GF_SECRET_KEY_BYTES], int *id,
                       struct gf_secret_error *err)
{
	struct registry *g = gf_xcalloc(1, sizeof(*g));
	int r = load_registry(c, g);
	if (r == 0)
		r = read_key(path, !credential, key, err);
	if (r == -ENOENT) {
		if (g->current >= 0 && finish_rekey(path, g, key, NULL) == 1) {
			r = 0;
		} else if (g->n > 0) {
			const struct reg_key *cur = g->current >= 0 ? &g->v[g->current] : &g->v[g->n - 1];
			r = fail(err, "secrets key %s is missing; the access keys in the database are encrypted with key"
			         " %d (fingerprint %s, created %s): restore that file (from a backup, or from the host"
			         " that created it); guestflow does not make a new key while access keys are stored"
			         " under the old one", path, cur->id, cur->fp, cur->created);
		} else if (g->stored) {
			r = fail(err, "secrets key %s is missing and guestflow.secret_keys is empty, but connections hold"
			         " encrypted access keys: restore the key file and its row in guestflow.secret_keys"
			         " (from a backup); guestflow does not make a new key over stored ones", path);
		} else {
			/* A fresh install: the first process to get here makes the key. */
			if (RAND_bytes(key, GF_SECRET_KEY_BYTES) != 1)
				r = fail(err, "cannot make a secrets key: no random bytes from libcrypto");
			else
				r = write_new_key(path, key, err);
			if (r == 0)
				gf_info("secrets_key_created", "key_file=%s mode=0600 owner=%s", gf_log_q(path),
				        gf_log_q(user_name()));
			else if (r == -EEXIST) /* another process was quicker: its key */
				r = read_key(path, true, key, err);
		}
	}
	if (r == 0) {
		r = match_key(path, g, key, credential, id, err);
		if (r == 1 && g->stored) {
			r = fail(err, "guestflow.secret_keys is empty, but connections hold encrypted access keys: restore"
			         " its rows (from a backup); guestflow does not register %s over stored ones", path);
		} else if (r == 1) {
			char fp[33], v[8];
			gf_secret_fingerprint(key, fp);
			*id = 1;
			snprintf(v, sizeof(v), "%d", *id);
			r = gf_db_exec(c, "secret_register", "INSERT INTO guestflow.secret_keys (id, fingerprint)"
			               " VALUES ($1::smallint, $2)", 2, (const char *[]){ v, fp });
			if (r == 0)
				gf_info("secrets_key_registered", "key_file=%s key_id=%d fingerprint=%s", gf_log_q(path),
				        *id, fp);
		}
	}
	free(g);
	return r;
}

int gf_secret_open(PGconn *c, const struct gf_config *cfg, struct gf_secret_error *err)
{
	err->text[0] = '\0';
	if (K.loaded)
		return 0;
	bool credential = false;
	_cleanup_free_ char *path = NULL;
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	struct stat st;
	if (creds && *creds) {
		path = gf_xasprintf("%s/%s", creds, GF_SECRET_CREDENTIAL);
		credential = lstat(path, &st) == 0;
	}
	if (!credential) {
		free(path);
		path = gf_xstrdup(cfg->secrets_key_file ? cfg->secrets_key_file : GF_SECRETS_KEY_FILE_DEFAULT);
	}
	int r = schema_ready(c, err);
	if (r < 0)
		return r;
	uint8_t key[GF_SECRET_KEY_BYTES];
	int id = 0;
	int64_t n = 0;
	r = gf_db_begin(c);
	if (r == 0)
		r = gf_db_exec(c, "secret_lock", "SELECT pg_advisory_xact_lock(" GF_LOCK_CLASS_SECRETS ", 0)", 0, NULL);
	if (r == 0)
		r = open_locked(c, path, credential, key, &id, err);
	if (r == 0)
		r = encrypt_plain_rows(c, key, id, &n);
	if (r == 0)
		r = gf_db_commit(c);
	if (r < 0) {
		gf_db_rollback(c);
		explicit_bzero(key, sizeof(key));
		if (r == -GF_E_CONFIG)
			gf_error("secrets_key_failed", "key_file=%s error=%s", gf_log_q(path), gf_log_q(err->text));
		else if (!err->text[0])
			snprintf(err->text, sizeof(err->text), "database error while opening the secrets key %s: %s",
			         path, gf_strerror(r));
		return r;
	}
	if (n > 0)
		gf_info("secrets_encrypted", "count=%lld key_file=%s key_id=%d msg=%s", (long long)n, gf_log_q(path),
		        id, gf_log_q("access keys stored in plain text are now stored encrypted"));
	memcpy(K.key, key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	K.id = id;
	K.credential = credential;
	K.path = path;
	path = NULL;
	K.loaded = true;
	gf_debug("secrets_key", "key_file=%s key_id=%d credential=%s", gf_log_q(K.path), K.id,
	         credential ? "yes" : "no");
	return 0;
}

int gf_secret_seal(int64_t connection_id, const char *plain, char **hex)
{
	if (!K.loaded)
		return -ENOKEY;
	char *h = gf_secret_encrypt(K.key, K.id, connection_id, plain);
	if (!h)
		return -EINVAL;
	*hex = h;
	return 0;
}

/* The key file read again, for a value stored under another key id (a
 * rekey while this process ran): FILE, or FILE.new when that rekey has not
 * renamed it yet. Taken only if it decrypts the value: the tag proves it is
 * the key of that id. */
static int unseal_reloaded(int64_t connection_id, const char *hex, int stored_id, char **plain)
{
	if (K.credential)
		return -ENOKEY;
	_cleanup_free_ char *next = gf_xasprintf("%s.new", K.path);
	const char *paths[] = { K.path, next };
	for (size_t i = 0; i < GF_ARRAY_SIZE(paths); i++) {
		uint8_t k[GF_SECRET_KEY_BYTES];
		struct gf_secret_error ignored;
		if (read_key(paths[i], true, k, &ignored) < 0)
			continue;
		int r = gf_secret_decrypt(k, stored_id, connection_id, hex, plain, NULL);
		if (r == 0) {
			memcpy(K.key, k, sizeof(k));
			K.id = stored_id;
			gf_info("secrets_key_reloaded", "key_file=%s key_id=%d msg=%s", gf_log_q(paths[i]), stored_id,
			        gf_log_q("the key was rotated while this process ran"));
		}
		explicit_bzero(k, sizeof(k));
		if (r == 0)
			return 0;
	}
	return -ENOKEY;
}

int gf_secret_unseal(int64_t connection_id, const char *hex, char **plain)
{
	int stored = 0;
	int r = -ENOKEY;
	const char *why = "no key loaded";
	if (!hex) {
		why = "no encrypted access key stored (a plain-text one written since this run started is encrypted"
		      " by the next run)";
	} else if (K.loaded) {
		r = gf_secret_decrypt(K.key, K.id, connection_id, hex, plain, &stored);
		if (r == -ENOKEY)
			r = unseal_reloaded(connection_id, hex, stored, plain);
		why = r == -ENOKEY ? "stored under another key id than the key file holds" :
		      r == -EINVAL ? "not a stored value guestflow wrote" :
		      "the key file's key does not decrypt it for this connection (altered, or copied from another"
		      " connection's row)";
	}
	if (r < 0)
		gf_error("secret_unreadable", "connection=%lld key_file=%s key_id=%d stored_key_id=%d error=%s msg=%s",
		         (long long)connection_id, gf_log_q(gf_secret_source()), K.id, stored, gf_log_q(why),
		         gf_log_q("set the key again with 'guestflow connection set-key PROPERTY PARTNER';"
		                  " this connection's deliveries stay pending"));
	return r < 0 ? (r == -EINVAL ? -EBADMSG : r) : 0;
}

int gf_secret_rekey(PGconn *c, int64_t *count, struct gf_secret_error *err)
{
	err->text[0] = '\0';
	*count = 0;
	if (!K.loaded)
		return fail(err, "no secrets key loaded");
	if (K.credential)
		return fail(err, "the secrets key comes from the systemd credential %s: rotate the file the credential"
		            " is loaded from, by running 'guestflow connection rekey' outside the unit with"
		            " secrets.key_file naming that file", K.path);
	_cleanup_free_ char *next = gf_xasprintf("%s.new", K.path);
	_cleanup_free_ char *old = gf_xasprintf("%s.old", K.path);
	uint8_t nk[GF_SECRET_KEY_BYTES];
	if (RAND_bytes(nk, sizeof(nk)) != 1)
		return fail(err, "cannot make a secrets key: no random bytes from libcrypto");
	char nfp[33];
	gf_secret_fingerprint(nk, nfp);

	int r = gf_db_begin(c);
	if (r == 0)
		r = gf_db_exec(c, "secret_lock", "SELECT pg_advisory_xact_lock(" GF_LOCK_CLASS_SECRETS ", 0)", 0, NULL);
	struct registry *g = gf_xcalloc(1, sizeof(*g));
	if (r == 0)
		r = load_registry(c, g);
	char fp[33];
	gf_secret_fingerprint(K.key, fp);
	if (r == 0 && (g->current < 0 || strcmp(g->v[g->current].fp, fp) != 0))
		r = fail(err, "the key in %s is no longer the current one (another rekey ran meanwhile?): nothing"
		         " changed", K.path);
	int nid = r == 0 ? g->v[g->current].id % 255 + 1 : 0;
	/* A FILE.new left by a rotation that never committed protects nothing:
	 * its key is in no registry row. Any other is not ours to remove. */
	uint8_t stale[GF_SECRET_KEY_BYTES];
	struct gf_secret_error ignored;
	int sr = r == 0 ? read_key(next, false, stale, &ignored) : -ENOENT;
	if (sr != -ENOENT) {
		char sfp[33] = "";
		if (sr == 0)
			gf_secret_fingerprint(stale, sfp);
		explicit_bzero(stale, sizeof(stale));
		if (sr == 0 && !find_fp(g, sfp))
			unlink(next);
		else
			r = fail(err, "%s exists and is not a leftover of an unfinished rekey: move it away first", next);
	}
	/* FILE.new first: whole and on disk before anything refers to it. */
	bool wrote_next = false;
	if (r == 0) {
		r = write_new_key(next, nk, err);
		wrote_next = r == 0;
	}
	if (r == -EEXIST)
		r = fail(err, "%s appeared meanwhile: another rekey is running?", next);
	char v_new[8], v_cur[8];
	snprintf(v_new, sizeof(v_new), "%d", nid);
	snprintf(v_cur, sizeof(v_cur), "%d", r == 0 ? g->v[g->current].id : 0);
	/* Ids go round 1..255; a retired key 255 rotations old gives its id up
	 * (no stored value names it: every rekey re-encrypts them all). */
	if (r == 0)
		r = gf_db_exec(c, "secret_free_id", "DELETE FROM guestflow.secret_keys WHERE id = $1::smallint", 1,
		               (const char *[]){ v_new });
	if (r == 0)
		r = gf_db_exec(c, "secret_retire", "UPDATE guestflow.secret_keys SET retired_at = now()"
		               " WHERE id = $1::smallint", 1, (const char *[]){ v_cur });
	if (r == 0)
		r = gf_db_exec(c, "secret_register", "INSERT INTO guestflow.secret_keys (id, fingerprint)"
		               " VALUES ($1::smallint, $2)", 2, (const char *[]){ v_new, nfp });
	int e = 0;
	_cleanup_pgresult_ PGresult *rows = r < 0 ? NULL : gf_db_query(c, &e, "secret_all_rows",
		"SELECT id, encode(secret_enc, 'hex'), secret FROM guestflow.connections ORDER BY id FOR UPDATE",
		0, NULL);
	if (r == 0 && !rows)
		r = e;
	for (int i = 0; r == 0 && i < PQntuples(rows); i++) {
		int64_t conn = gf_db_get_int(rows, i, 0);
		char *plain = NULL;
		if (!PQgetisnull(rows, i, 2)) {
			/* plain text not taken over yet: it is the newest key */
			plain = gf_xstrdup(PQgetvalue(rows, i, 2));
		} else if (gf_secret_decrypt(K.key, K.id, conn, PQgetvalue(rows, i, 1), &plain, NULL) < 0) {
			(void)fail(err, "the stored access key of connection %lld does not decrypt with %s: set it again"
			           " ('guestflow connection set-key'), then rekey; nothing changed", (long long)conn, K.path);
			r = -GF_E_DATA;
			break;
		}
		char *hex = gf_secret_encrypt(nk, nid, conn, plain);
		explicit_bzero(plain, strlen(plain));
		free(plain);
		if (!hex) {
			r = fail(err, "cannot encrypt the access key of connection %lld; nothing changed", (long long)conn);
			break;
		}
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)conn);
		r = gf_db_exec(c, "secret_reencrypt",
			"UPDATE guestflow.connections SET secret_enc = decode($2, 'hex'), secret = NULL,"
			" updated_at = now() WHERE id = $1::bigint", 2, (const char *[]){ id, hex });
		free(hex);
		if (r == 0)
			(*count)++;
	}
	for (int i = 0; rows && i < PQntuples(rows); i++)
		if (!PQgetisnull(rows, i, 2))
			explicit_bzero(PQgetvalue(rows, i, 2), strlen(PQgetvalue(rows, i, 2)));
	if (r == 0)
		r = gf_db_commit(c);
	free(g);
	if (r < 0) {
		gf_db_rollback(c);
		/* Not committed: the new key protects nothing. FILE.old is a copy
		 * of the key still in use. */
		if (wrote_next)
			unlink(next);
		explicit_bzero(nk, sizeof(nk));
		if (!err->text[0])
			snprintf(err->text, sizeof(err->text), "database error during the rekey (%s): nothing changed",
			         gf_strerror(r));
		return r;
	}
	/* Committed: the stored keys are under the new key. FILE.old and the
	 * rename are left; what of them does not happen now, the next
	 * gf_secret_open() does. */
	struct gf_secret_error late = { { 0 } };
	if (move_into_place(K.path, next, K.key, &late) < 0)
		gf_error("secrets_rekey_unfinished", "key_file=%s error=%s msg=%s", gf_log_q(K.path), gf_log_q(late.text),
		         gf_log_q("the access keys are re-encrypted under the new key (in FILE.new); the next guestflow"
		                  " command that opens the key moves it into place"));
	memcpy(K.key, nk, sizeof(nk));
	explicit_bzero(nk, sizeof(nk));
	K.id = nid;
	gf_info("secrets_rekeyed", "key_file=%s old_key_file=%s key_id=%d fingerprint=%s secrets=%lld",
	        gf_log_q(K.path), gf_log_q(old), nid, nfp, (long long)*count);
	return 0;
}

const char *gf_secret_source(void)
{
	return K.path ? K.path : "(none)";
}

int gf_secret_key_id(void)
{
	return K.loaded ? K.id : 0;
}

void gf_secret_close(void)
{
	explicit_bzero(K.key, sizeof(K.key));
	free(K.path);
	K.path = NULL;
	K.loaded = false;
	K.id = 0;
}
