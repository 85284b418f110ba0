/* Replays fuzz corpora without libFuzzer: LLVMFuzzerTestOneInput on every file given or found in a directory given. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define MAX_INPUT_BYTES ((size_t)16 * 1024 * 1024)

/* The whole file in a buffer of exactly its size (so that ASan sees a read
 * one past the end, as under libFuzzer). Returns 0 or a negative errno. */
static int read_input(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;

	size_t cap = 0, n = 0;
	uint8_t *buf = NULL;
	int r = 0;
	for (;;) {
		if (n == cap) {
			if (cap >= MAX_INPUT_BYTES) {
				r = -EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 4096;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f))
				r = -EIO;
			break;
		}
	}
	fclose(f);
	if (r < 0) {
		free(buf);
		return r;
	}

	uint8_t *exact = malloc(n ? n : 1);
	if (!exact) {
		free(buf);
		return -ENOMEM;
	}
	if (n)
		memcpy(exact, buf, n);
	free(buf);
	*out = exact;
	*len = n;
	return 0;
}

static int run_file(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = read_input(path, &data, &len);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read: %s\n", path, strerror(-r));
		return r;
	}
	printf("%s (%zu bytes)\n", path, len);
	fflush(stdout);   /* the last name printed is the input that crashed */
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int skip_hidden(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

/* Every regular file in dir (not hidden), in name order. Returns the number
 * run, or a negative errno. */
static int run_dir(const char *dir)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, skip_hidden, alphasort);
	if (n < 0) {
		int e = errno;
		fprintf(stderr, "%s: cannot list: %s\n", dir, strerror(e));
		return -e;
	}

	int count = 0, r = 0;
	for (int i = 0; i < n; i++) {
		size_t len = strlen(dir) + 1 + strlen(names[i]->d_name) + 1;
		char *path = malloc(len);
		struct stat st;
		if (!path) {
			r = -ENOMEM;
		} else {
			snprintf(path, len, "%s/%s", dir, names[i]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && r == 0) {
				r = run_file(path);
				count += r == 0;
			}
		}
		free(path);
		free(names[i]);
	}
	free(names);
	return r < 0 ? r : count;
}

int main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		int r = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) < 0 ? -1 : 1);
		if (r < 0)
			return 1;
		total += r;
	}
	/* An empty or missing corpus would make the test pass while testing nothing. */
	if (total == 0) {
		fprintf(stderr, "no inputs found\n");
		return 1;
	}
	printf("%d inputs replayed\n", total);
	return 0;
}
