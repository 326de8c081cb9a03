/* SPDX-License-Identifier: MIT */
/* The malloc-counting interposer of iem-alloc-host (iem-alloc-count.c). */
#ifndef IEM_ALLOC_COUNT_H
#define IEM_ALLOC_COUNT_H

#include <pthread.h>
#include <stdio.h>

/* Counts from now on every allocation and free made on thread. */
void iem_alloc_arm(pthread_t thread);
/* Stops counting; prints "iem-alloc: allocations=N frees=M" and the first
 * allocations seen (function, size, caller). */
void iem_alloc_report(FILE *f);

#endif
