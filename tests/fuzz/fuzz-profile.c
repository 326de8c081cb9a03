/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the profile loader (json-scan.c + profile.c). Besides
 * crashes and sanitizer findings it checks the loader's promises: a
 * profile that loads applies without error, a refusal leaves nothing
 * behind and names a place inside the text and a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iem-profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define require(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iem_profile *p = (struct iem_profile *)&p;
	struct iem_profile_error e;
	struct iem_params params;
	uint32_t lines = 1;
	int r;

	r = iem_profile_parse((const char *)data, size, "fuzz.json", "fuzz", &p, &e);
	if (r < 0) {
		require(p == NULL);
		require(e.message[0] != '\0');
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		require(e.line <= lines);
		require(e.line == 0 || e.column >= 1);
		require(memchr(e.message, '\0', sizeof(e.message)) != NULL);
		require(memchr(e.pointer, '\0', sizeof(e.pointer)) != NULL);
		return 0;
	}
	require(p != NULL && strcmp(p->id, "fuzz") == 0 && p->name != NULL);
	require(p->kind == IEM_PROFILE_DEVICE || p->kind == IEM_PROFILE_LISTENING ||
			p->kind == IEM_PROFILE_DEFAULTS);
	iem_params_init(&params);
	require(iem_profile_apply(p, &params, &e) == 0);
	for (uint32_t i = 0; i < p->n_rules; i++)
		require(p->rules[i].n_props >= 1 && p->rules[i].n_props <= IEM_PROFILE_RULE_PROPS_MAX);
	iem_profile_free(p);
	return 0;
}
