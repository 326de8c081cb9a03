/* SPDX-License-Identifier: MIT */
/*
 * Internal: flush denormals to zero (FTZ/DAZ on x86, FZ on AArch64) for the
 * duration of a processing call or for the life of a worker thread.
 * fpenv_enter() returns the caller's state; fpenv_leave() restores it.
 */
#ifndef IEM_FPENV_H
#define IEM_FPENV_H

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

static inline unsigned long fpenv_enter(void)
{
#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
	unsigned int csr = _mm_getcsr();
	_mm_setcsr(csr | 0x8040);	/* FTZ | DAZ */
	return csr;
#elif defined(__aarch64__)
	unsigned long fpcr;
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	__asm__ volatile("msr fpcr, %0" : : "r"(fpcr | (1ul << 24)));	/* FZ */
	return fpcr;
#else
	return 0;
#endif
}

static inline void fpenv_leave(unsigned long saved)
{
#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
	_mm_setcsr((unsigned int)saved);
#elif defined(__aarch64__)
	__asm__ volatile("msr fpcr, %0" : : "r"(saved));
#else
	(void)saved;
#endif
}

#endif
