/* Retry timing: capped exponential backoff with full jitter, Retry-After. */
#include "base/backoff.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

uint64_t gf_rand_next(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

uint64_t gf_rand_seed(void)
{
	uint64_t s = (uint64_t)gf_now_wall_ms() * 0x9E3779B97F4A7C15ull ^ ((uint64_t)getpid() << 32);
	return s ? s : 1;
}

int64_t gf_backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, uint64_t *rng)
{
	if (attempt < 1)
		attempt = 1;
	if (initial_ms < 1)
		initial_ms = 1;
	if (max_ms < initial_ms)
		max_ms = initial_ms;
	int64_t cap = initial_ms;
	for (int i = 1; i < attempt && cap < max_ms; i++)
		cap = cap > max_ms / 2 ? max_ms : cap * 2;
	if (cap > max_ms)
		cap = max_ms;
	int64_t floor = initial_ms / 10;
	if (floor > cap)
		floor = cap;
	uint64_t span = (uint64_t)(cap - floor) + 1;
	return floor + (int64_t)(gf_rand_next(rng) % span);
}

int gf_retry_after_ms(const char *value, int64_t now_wall_ms, int64_t max_ms, int64_t *out)
{
	if (!value)
		return -EINVAL;
	while (isspace((unsigned char)*value))
		value++;
	size_t n = strlen(value);
	while (n && isspace((unsigned char)value[n - 1]))
		n--;
	/* (leading zeros say nothing: "0005" is 5 seconds, whatever its length) */
	while (n > 1 && value[0] == '0' && isdigit((unsigned char)value[1])) {
		value++;
		n--;
	}
	bool digits = n > 0;
	for (size_t i = 0; i < n; i++)
		digits &= isdigit((unsigned char)value[i]) != 0;
	/* (an HTTP-date is 29 characters; seconds of any length are a delay:
	 * more digits than an int64_t holds, clamped below) */
	char v[128];
	if (n == 0 || (!digits && n >= sizeof(v)))
		return -EINVAL;
	int64_t ms;
	int64_t secs = INT64_MAX;
	if (digits && n < 19) {
		memcpy(v, value, n);
		v[n] = '\0';
		if (gf_parse_int64(v, &secs) < 0)
			secs = INT64_MAX;
	}
	if (digits) {
		ms = secs > INT64_MAX / 1000 ? INT64_MAX : secs * 1000;
	} else {
		memcpy(v, value, n);
		v[n] = '\0';
		time_t t = curl_getdate(v, NULL);
		if (t == (time_t)-1)
			return -EINVAL;
		/* (a date far in the future: the product would overflow) */
		ms = (int64_t)t > INT64_MAX / 1000 ? INT64_MAX : (int64_t)t * 1000 - now_wall_ms;
	}
	if (ms < 0)
		ms = 0;
	if (ms > max_ms)
		ms = max_ms;
	*out = ms;
	return 0;
}
