/* SPDX-License-Identifier: MIT */
/*
 * A malloc-counting interposer, linked into iem-alloc-host (iem-host built
 * with -DIEM_ALLOC_COUNT). It replaces glibc's malloc family (glibc
 * supports this: every allocation in the process, libraries' included,
 * comes here) and forwards to glibc's own (__libc_*). While armed for one
 * thread, every allocation and every free made on that thread is counted,
 * and the first few are noted with their size and caller.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iem-alloc-count.h"

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
/* glibc's, declared in <malloc.h> only */
void *memalign(size_t align, size_t size);
void *pvalloc(size_t size);

#define N_SEEN 8

static pthread_t armed_thread;
static int armed;
static uint64_t n_alloc, n_free;
static struct {
	const char *what;
	size_t size;
	void *caller;
} seen[N_SEEN];

static inline int counting(void)
{
	return __atomic_load_n(&armed, __ATOMIC_ACQUIRE) && pthread_equal(pthread_self(), armed_thread);
}

static void note(const char *what, size_t size, void *caller)
{
	uint64_t k = __atomic_fetch_add(&n_alloc, 1, __ATOMIC_RELAXED);
	if (k < N_SEEN) {
		seen[k].what = what;
		seen[k].size = size;
		seen[k].caller = caller;
	}
}

void *malloc(size_t size)
{
	if (counting())
		note("malloc", size, __builtin_return_address(0));
	return __libc_malloc(size);
}

void free(void *ptr)
{
	if (ptr != NULL && counting())
		__atomic_fetch_add(&n_free, 1, __ATOMIC_RELAXED);
	__libc_free(ptr);
}

void *calloc(size_t n, size_t size)
{
	if (counting())
		note("calloc", n * size, __builtin_return_address(0));
	return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
	if (counting())
		note("realloc", size, __builtin_return_address(0));
	return __libc_realloc(ptr, size);
}

void *memalign(size_t align, size_t size)
{
	if (counting())
		note("memalign", size, __builtin_return_address(0));
	return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	if (counting())
		note("aligned_alloc", size, __builtin_return_address(0));
	return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (counting())
		note("posix_memalign", size, __builtin_return_address(0));
	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	p = __libc_memalign(align, size);
	if (p == NULL && size != 0)
		return ENOMEM;
	*out = p;
	return 0;
}

void *valloc(size_t size)
{
	if (counting())
		note("valloc", size, __builtin_return_address(0));
	return __libc_memalign(4096, size);
}

void *pvalloc(size_t size)
{
	if (counting())
		note("pvalloc", size, __builtin_return_address(0));
	return __libc_memalign(4096, (size + 4095) & ~(size_t)4095);
}

void iem_alloc_arm(pthread_t thread)
{
	__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
	armed_thread = thread;
	__atomic_store_n(&n_alloc, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&n_free, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&armed, 1, __ATOMIC_RELEASE);
}

void iem_alloc_report(FILE *f)
{
	uint64_t a, fr;

	__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
	a = __atomic_load_n(&n_alloc, __ATOMIC_RELAXED);
	fr = __atomic_load_n(&n_free, __ATOMIC_RELAXED);
	fprintf(f, "iem-alloc: allocations=%llu frees=%llu\n", (unsigned long long)a,
			(unsigned long long)fr);
	for (uint64_t k = 0; k < a && k < N_SEEN; k++) {
		Dl_info info;
		const char *sym = "?", *obj = "?";
		if (dladdr(seen[k].caller, &info)) {
			sym = info.dli_sname ? info.dli_sname : "?";
			obj = info.dli_fname ? info.dli_fname : "?";
		}
		fprintf(f, "iem-alloc:   %s(%zu) from %s (%s)\n", seen[k].what, seen[k].size, sym, obj);
	}
	fflush(f);
}
