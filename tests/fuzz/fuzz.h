/*
 * fuzz.h: what every harness shares. FZ_CHECK is the oracle: when a
 * property the code promises does not hold, the harness stops with a
 * message and a trap, which libFuzzer reports as a crash and saves.
 * (assert() would vanish under -DNDEBUG; this never does.)
 */
#ifndef MP_FUZZ_H
#define MP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define FZ_CHECK(cond, ...) do {                                        \
	if (!(cond)) {                                                  \
		fprintf(stderr, "ORACLE %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__);                           \
		fputc('\n', stderr);                                    \
		__builtin_trap();                                       \
	}                                                               \
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* True when s[0..n) is printable ASCII (0x20-0x7e). */
static inline int
fz_printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* True when buf[0..size) holds a NUL: a string field must end in it. */
static inline int
fz_terminated(const char *buf, size_t size)
{
	return memchr(buf, '\0', size) != NULL;
}

#endif
