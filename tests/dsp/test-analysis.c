/* SPDX-License-Identifier: MIT */
/*
 * Soundstage metrics (analysis.c): first against closed forms (delays,
 * identical and independent ears, a hand-made room of two impulses, the
 * bs2b figures of dsp-reference §5.1), then what they say about the stage
 * the chain builds:
 *
 *   imaging     a hard-left source images where the HRTF puts 30 degrees
 *               (its direct sound; the whole response over tail noises;
 *               by the phase transform, which a filter common to both
 *               ears does not move); panning moves the ITD monotonically
 *               from left to right
 *   soundstage  uncorrelated stereo: IACC_E3 <= 0.4 anechoic, <= 0.25 in
 *               the default room (KEMAR: the bounds are KEMAR's figures,
 *               §5.1 and §5.6); mono stays centred
 *   room        the default room's DRR, C50 and first reflection against
 *               the working targets of §4.3
 *   KEMAR       the synthesised anechoic speaker's ITD against the SOFA
 *               file's own HRIR, read with libmysofa, measured the same way
 *
 * The stage's set is measured through the chain itself: an impulse on
 * each input, with the EQ off, so that it is exactly what a listener
 * hears, the chain's loudness scaling included.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "iem-test.h"
#include "iem-test-dsp.h"

#if IEM_HAVE_SOFA
#include <mysofa.h>
#endif

#define RATE 48000u
#define PROBE (1.0f / 16.0f)	/* impulse height: well below the limiter */

static void skip(const char *why)
{
	printf("ok %u - # SKIP %s\n", ++iem_test_count, why);
}

/* ---- a set --------------------------------------------------------------- */

struct set {
	uint32_t n;
	float *taps[4];		/* LL, RL, LR, RR */
	struct iem_ir ir;
	struct iem_stage_info si;
	struct iem_chain *chain;	/* chain_set()'s */
};

static void set_init(struct set *s, uint32_t n)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	for (int p = 0; p < 4; p++)
		s->taps[p] = test_alloc(n, sizeof(float));
	s->ir = (struct iem_ir) { 2, 2, n, (const float *const *)s->taps };
}

static void set_free(struct set *s)
{
	for (int p = 0; p < 4; p++)
		free(s->taps[p]);
	s->chain = iem_chain_free(s->chain);
}

/* The chain's stage for params "name=value" … (NULL-terminated), measured
 * with an impulse on each input; false (and a Bail out) when it fails. */
static bool chain_set(struct set *s, const char *const *params)
{
	struct iem_params p;
	char err[512] = "";
	iem_params_init(&p);
	for (int i = 0; params[i]; i += 2)
		if (iem_params_set(&p, params[i], params[i + 1], err, sizeof(err)) < 0) {
			printf("Bail out! %s\n", err);
			exit(1);
		}
	struct iem_chain *c = iem_chain_new(RATE);
	struct iem_stage_info si;
	if (c == NULL || iem_chain_apply(c, &p, NULL) < 0 ||
	    iem_chain_load_stage(c, &p, &si, err, sizeof(err)) < 0) {
		printf("Bail out! the stage: %s\n", err);
		exit(1);
	}
	set_init(s, si.length);
	s->si = si;
	s->chain = c;
	float *in[2] = { test_alloc(s->n, sizeof(float)), test_alloc(s->n, sizeof(float)) };
	float *out[2] = { test_alloc(s->n, sizeof(float)), test_alloc(s->n, sizeof(float)) };
	static const uint32_t sizes[] = { 256, 0 };
	for (int i = 0; i < 2; i++) {
		iem_chain_reset(c);
		memset(in[0], 0, s->n * sizeof(float));
		memset(in[1], 0, s->n * sizeof(float));
		in[i][0] = PROBE;
		test_run(c, in[0], in[1], out[0], out[1], s->n, sizes);
		for (uint32_t j = 0; j < s->n; j++) {
			s->taps[0 * 2 + i][j] = out[0][j] / PROBE;
			s->taps[1 * 2 + i][j] = out[1][j] / PROBE;
		}
	}
	struct iem_chain_stats st;
	iem_chain_get_stats(c, &st);
	if (st.limiter_events != 0) {
		printf("Bail out! the limiter acted on the probe\n");
		exit(1);
	}
	for (int k = 0; k < 2; k++) {
		free(in[k]);
		free(out[k]);
	}
	return true;
}

/* Noise through the set's chain (from silence): out[0 … 1] get m + s->n
 * frames, divided by the level the noise went in at. */
static void chain_render(struct set *s, const float *const in[2], float *const out[2], uint32_t m)
{
	const float level = 0.02f;
	const uint32_t n = m + s->n;
	static const uint32_t sizes[] = { 1024, 0 };
	float *x[2] = { test_alloc(n, sizeof(float)), test_alloc(n, sizeof(float)) };
	struct iem_chain_stats before, after;
	for (int i = 0; i < 2; i++)
		for (uint32_t j = 0; in[i] && j < m; j++)
			x[i][j] = level * in[i][j];
	iem_chain_get_stats(s->chain, &before);
	iem_chain_reset(s->chain);
	test_run(s->chain, x[0], x[1], out[0], out[1], n, sizes);
	iem_chain_get_stats(s->chain, &after);
	if (after.limiter_events != before.limiter_events) {
		printf("Bail out! the limiter acted on the noise\n");
		exit(1);
	}
	for (int o = 0; o < 2; o++)
		for (uint32_t j = 0; j < n; j++)
			out[o][j] /= level;
	free(x[0]);
	free(x[1]);
}

static void analyse(const struct set *s, struct iem_analysis *a)
{
	int r = iem_analysis_run(&s->ir, RATE, a);
	if (r < 0) {
		printf("Bail out! iem_analysis_run: %s\n", strerror(-r));
		exit(1);
	}
}

/* Left and right ear for input gains gl, gr through the set. */
static void pan(const struct set *s, double gl, double gr, float *l, float *r)
{
	for (uint32_t i = 0; i < s->n; i++) {
		l[i] = (float)(gl * s->taps[0][i] + gr * s->taps[1][i]);
		r[i] = (float)(gl * s->taps[2][i] + gr * s->taps[3][i]);
	}
}

/* ---- closed forms ------------------------------------------------------------ */

static void biquad_run(const struct iem_biquad *bq, float *x, uint32_t n)
{
	double x1 = 0, x2 = 0, y1 = 0, y2 = 0;
	for (uint32_t i = 0; i < n; i++) {
		double in = x[i], y = bq->b0 * in + bq->b1 * x1 + bq->b2 * x2 - bq->a1 * y1 - bq->a2 * y2;
		x2 = x1, x1 = in, y2 = y1, y1 = y;
		x[i] = (float)y;
	}
}

/* A filter on both ears leaves the interaural transfer function as it
 * was: the phase transform reads the same ITD, the low-passed
 * cross-correlation (whose peak averages a frequency-dependent ITD with
 * the shared spectrum's weights) does not. The pair: the right ear 12
 * samples later and through an all-pass at 1 kHz, so that its delay
 * falls with frequency, as a head's does. */
static void test_phat_common_filter(void)
{
	const uint32_t n = 9600;
	float *l = test_alloc(n, sizeof(float)), *r = test_alloc(n, sizeof(float));
	double p0, p1, x0, x1;
	struct iem_biquad ap, peak, shelf;

	l[100] = 1.0f;
	r[112] = 1.0f;
	iem_biquad_design(&ap, IEM_FILTER_ALLPASS, RATE, 1000.0, 0.5, 0.0);
	biquad_run(&ap, r, n);
	iem_analysis_itd_phat(l, r, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &p0);
	iem_analysis_itd(l, r, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &x0);
	iem_biquad_design(&peak, IEM_FILTER_PEAKING, RATE, 1200.0, 1.0, 12.0);
	iem_biquad_design(&shelf, IEM_FILTER_LOWSHELF, RATE, 300.0, M_SQRT1_2, -12.0);
	for (int ear = 0; ear < 2; ear++) {
		biquad_run(&peak, ear ? r : l, n);
		biquad_run(&shelf, ear ? r : l, n);
	}
	int rc = iem_analysis_itd_phat(l, r, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &p1);
	iem_analysis_itd(l, r, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &x1);
	check(rc == 0 && fabs(p1 - p0) < 0.1,
			"a delay falling with frequency, then +12 dB at 1.2 kHz and -12 dB below 300 Hz on "
			"both ears: phase transform %.2f -> %.2f us (low-passed cross-correlation %.1f -> %.1f us)",
			p0, p1, x0, x1);
	free(l);
	free(r);
}

static void test_closed_forms(void)
{
	const uint32_t n = 4800;
	float *l = test_alloc(n, sizeof(float)), *r = test_alloc(n, sizeof(float));
	double itd, iacc, lag;

	/* a pure delay of 12 samples is 250 us, either way, broadband or not */
	l[1000] = 1.0f;
	r[1012] = 1.0f;
	bool ok = iem_analysis_itd(l, r, n, RATE, 0.0, &itd) == 0 && fabs(itd - 250.0) < 0.01;
	ok &= iem_analysis_itd(l, r, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &itd) == 0 && fabs(itd - 250.0) < 0.01;
	ok &= iem_analysis_itd(r, l, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &itd) == 0 && fabs(itd + 250.0) < 0.01;
	check(ok, "ITD of a 12-sample delay at 48 kHz: 250 us, right ear lagging positive (swapped: %.3f)", itd);
	/* a response that ends on its last arrival keeps that arrival's
	 * low-passed ringing */
	ok = iem_analysis_itd(l, r, 1013, RATE, IEM_ANALYSIS_ITD_LOWPASS, &itd) == 0 && fabs(itd - 250.0) < 0.01;
	check(ok, "… with the right ear's impulse on the last tap: %.3f us", itd);
	ok = iem_analysis_itd_phat(l, r, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &itd) == 0 && fabs(itd - 250.0) < 0.01;
	double itd2 = NAN;
	ok &= iem_analysis_itd_phat(r, l, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &itd2) == 0 && fabs(itd2 + 250.0) < 0.01;
	check(ok, "phase transform: %.3f us, swapped %.3f us", itd, itd2);
	test_phat_common_filter();
	ok = iem_analysis_iacc(l, r, n, RATE, 0, 0, &iacc, &lag) == 0;
	check(ok && fabs(iacc - 1.0) < 1e-4 && fabs(lag - 250.0) < 1e-9,
			"IACC of the same impulse 250 us apart: %.5f at %.1f us", iacc, lag);
	/* beyond 1 ms it is not seen */
	memset(r, 0, n * sizeof(float));
	r[1060] = 1.0f;
	ok = iem_analysis_iacc(l, r, n, RATE, 0, 0, &iacc, NULL) == 0;
	check(ok && iacc < 1e-4, "… 1.25 ms apart: outside +-1 ms, IACC %.2g", iacc);
	memset(r, 0, n * sizeof(float));
	check(iem_analysis_itd(l, r, n, RATE, 0, &itd) == -ENODATA &&
			iem_analysis_itd_phat(l, r, n, RATE, 1500, &itd) == -ENODATA &&
			iem_analysis_iacc(l, r, n, RATE, 0, 0, &iacc, NULL) == -ENODATA,
			"a silent ear: -ENODATA");
	r[5] = NAN;
	check(iem_analysis_itd(l, r, n, RATE, 0, &itd) == -EINVAL &&
			iem_analysis_itd(l, l, n, 100, 0, &itd) == -EINVAL &&
			iem_analysis_itd_phat(l, r, n, RATE, 1500, &itd) == -EINVAL &&
			iem_analysis_itd_phat(l, l, n, RATE, 0, &itd) == -EINVAL &&
			iem_analysis_itd_phat(l, l, n, RATE, RATE, &itd) == -EINVAL, "NaN, a bad rate or band: -EINVAL");

	/* independent noise: IACC near 0; the same noise: 1; deterministic */
	uint64_t s1 = 1, s2 = 2, s3 = 1;
	iem_analysis_noise(&s1, l, n);
	iem_analysis_noise(&s2, r, n);
	ok = iem_analysis_iacc(l, r, n, RATE, 0, 0, &iacc, NULL) == 0;
	double e = 0.0;
	for (uint32_t i = 0; i < n; i++)
		e += (double)l[i] * l[i];
	check(ok && iacc < 0.06 && fabs(e / n - 1.0) < 0.05,
			"independent noises (0.1 s): IACC %.3f; variance %.3f", iacc, e / n);
	iem_analysis_noise(&s3, r, n);
	ok = memcmp(l, r, n * sizeof(float)) == 0 && iem_analysis_iacc(l, r, n, RATE, 500, 1000, &iacc, NULL) == 0;
	check(ok && fabs(iacc - 1.0) < 1e-4, "the same seed gives the same noise; IACC 500 … 1000 Hz %.5f", iacc);
	free(l);
	free(r);

	/* a set by hand: direct 1 at 2 ms, a reflection of 0.5 5 ms later,
	 * one of 0.1 at 60 ms; the right ear 12 samples later */
	struct set s;
	struct iem_analysis a;
	set_init(&s, RATE / 10);
	const uint32_t t = 96, d5 = 240, d60 = 2880;
	s.taps[0][t] = 1.0f;
	s.taps[0][t + d5] = 0.5f;
	s.taps[0][t + d60] = 0.1f;
	memcpy(s.taps[2] + 12, s.taps[0], (s.n - 12) * sizeof(float));
	memcpy(s.taps[3], s.taps[0], s.n * sizeof(float));	/* right speaker: the left's ears swapped */
	memcpy(s.taps[1] + 12, s.taps[0], (s.n - 12) * sizeof(float));
	analyse(&s, &a);
	const struct iem_speaker_analysis *k = &a.speaker[0];
	check(fabs(k->itd_us - 250.0) < 0.01 && fabs(a.speaker[1].itd_us + 250.0) < 0.01 &&
			fabs(k->ild_db) < 1e-9 && fabs(a.mono_itd_us) < 1e-6,
			"hand-made set: ITD %+.2f / %+.2f us, ILD %.2g dB, centred ITD %.2g us",
			k->itd_us, a.speaker[1].itd_us, k->ild_db, a.mono_itd_us);
	check(fabs(k->drr_db - 10 * log10(2.0 / (0.25 * 2 + 0.01 * 2))) < 1e-6 &&
			fabs(k->c50_db - 10 * log10(2.5 / 0.02)) < 1e-6,
			"… DRR %.4f dB (1 / (0.25 + 0.01)), C50 %.4f dB (1.25 / 0.01)", k->drr_db, k->c50_db);
	check(k->n_reflections == 1 && fabs(k->reflection[0].delay_ms - 5.0) < 0.05 &&
			fabs(k->reflection[0].level_db - db(0.5)) < 0.5,
			"… one reflection within 50 ms: %u, at %.2f ms, %+.2f dB (5 ms, -6.02 dB)",
			k->n_reflections, k->n_reflections ? k->reflection[0].delay_ms : NAN,
			k->n_reflections ? k->reflection[0].level_db : NAN);
	set_free(&s);

	/* plain headphones: no cross paths */
	set_init(&s, 1024);
	s.taps[0][0] = s.taps[3][0] = 1.0f;
	analyse(&s, &a);
	double worst = 0.0;
	for (int i = 0; i < IEM_ANALYSIS_THIRDS; i++)
		worst = fmax(worst, fabs(a.centre_db[i]));
	check(a.iacc < 1e-6 && a.iacc_e3 < 1e-6 && isinf(a.speaker[0].ild_db) && a.speaker[0].ild_db > 0 &&
			isnan(a.speaker[0].itd_us) && fabs(a.mono_iacc - 1.0) < 1e-4 && worst < 1e-4,
			"headphones: IACC %.2g, E3 %.2g, ILD %+f, ITD %f; centred: IACC %.4f, colouration %.2g dB",
			a.iacc, a.iacc_e3, a.speaker[0].ild_db, a.speaker[0].itd_us, a.mono_iacc, worst);
	set_free(&s);
}

/* bs2b's figures in dsp-reference §5.1 (uncorrelated white noise; its
 * bands were filters, ours are ideal: the bands get a little slack). */
static void test_bs2b_iacc(void)
{
	static const struct { uint32_t rate; double iacc, e3; } ref[] = {
		{ 44100, 0.079, 0.316 }, { 48000, 0.072, 0.313 },
	};
	for (int i = 0; i < 2; i++) {
		struct iem_crossfeed cf;
		struct iem_analysis a;
		iem_crossfeed_design(&cf, 700, 4.5, ref[i].rate);
		uint32_t n = iem_crossfeed_length(&cf);
		float *d = test_alloc(n, sizeof(float)), *x = test_alloc(n, sizeof(float));
		iem_crossfeed_ir(&cf, d, x, n);
		const float *taps[4] = { d, x, x, d };
		struct iem_ir ir = { 2, 2, n, taps };
		int r = iem_analysis_run(&ir, ref[i].rate, &a);
		check(r == 0 && fabs(a.iacc - ref[i].iacc) < 0.002 &&
				fabs(a.iacc_e3 - ref[i].e3) < 0.02,
				"bs2b default at %u Hz: IACC %.3f (%.3f), E3 %.3f (%.3f; %.3f / %.3f / %.3f)",
				ref[i].rate, a.iacc, ref[i].iacc, a.iacc_e3, ref[i].e3,
				a.iacc_e_band[0], a.iacc_e_band[1], a.iacc_e_band[2]);
		free(d);
		free(x);
	}
}

/* ---- the stage the chain builds ------------------------------------------------- */

/* The HRTF the chain's default (stage.hrtf = auto) loads, and its ITD at
 * the speakers' angle, measured as the analysis measures (itd_30: the
 * low-passed cross-correlation; phat_30, when not NULL: the phase
 * transform). */
static struct iem_hrtf *auto_hrtf_phat(double *itd_30, double *phat_30, bool *is_kemar)
{
	struct iem_hrtf_config hc;
	struct iem_hrtf_info info;
	iem_hrtf_config_init(&hc);
	struct iem_hrtf *h = iem_hrtf_new(&hc, RATE, NULL, 0);
	if (h == NULL) {
		printf("Bail out! the HRTF: %s\n", strerror(errno));
		exit(1);
	}
	uint32_t n = iem_hrtf_length(h);
	float *l = test_alloc(n, sizeof(float)), *r = test_alloc(n, sizeof(float));
	iem_hrtf_get(h, IEM_STAGE_ANGLE_DEFAULT, 0.0, l, r);
	iem_analysis_itd(l, r, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, itd_30);
	if (phat_30)
		iem_analysis_itd_phat(l, r, n, RATE, IEM_ANALYSIS_ITD_LOWPASS, phat_30);
	iem_hrtf_get_info(h, &info);
	*is_kemar = info.kind == IEM_HRTF_SOFA;
	free(l);
	free(r);
	return h;
}

static struct iem_hrtf *auto_hrtf(double *itd_30, bool *is_kemar)
{
	return auto_hrtf_phat(itd_30, NULL, is_kemar);
}

static void test_imaging(void)
{
	static const char *const room[] = { "stage.mode", "room", NULL };
	struct set s;
	struct iem_analysis a;
	double hrtf_itd;
	bool kemar;
	double hrtf_phat;
	struct iem_hrtf *h = auto_hrtf_phat(&hrtf_itd, &hrtf_phat, &kemar);

	chain_set(&s, room);
	analyse(&s, &a);
	const struct iem_speaker_analysis *k = &a.speaker[0];
	/*
	 * Which ITD, and measured how. The low-passed cross-correlation's
	 * figure depends on the spectrum the ears share, not only on what
	 * differs between them: for one and the same interaural transfer
	 * function (KEMAR at 30 deg) it reads 275 us raw, 306 us diffuse-field
	 * equalised and 286 us through the anechoic stage's timbre filter
	 * (iem-dsp.h). The phase transform (GCC-PHAT) reads 286.5 us for all
	 * three: it compares a stage's output with the HRIR it was built from
	 * without that bias, so the figures here are its.
	 *
	 * Where a source is heard is decided by its first wavefront (the
	 * precedence effect: Wallach, Newman & Rosenzweig 1949; Litovsky et
	 * al., JASA 106(4), 1999): the direct sound is the stage's image, and
	 * must carry the HRTF's ITD. The whole response also carries every
	 * reflection, most from nearer the median plane (floor, ceiling,
	 * front wall; about -8 us without the tail), and a diffuse tail whose
	 * cross-spectrum has no interaural delay on average but a random one
	 * in any one noise: its ITD is a random figure around a pull towards
	 * the centre. So the whole response is checked over tail noises (the
	 * mean of eight seeds), and the chain's own seed is reported.
	 */
	const uint32_t end = (uint32_t)lround((k->direct_ms + IEM_ANALYSIS_DIRECT_MS) * 1e-3 * RATE);
	double direct_phat = NAN;
	iem_analysis_itd_phat(s.taps[0], s.taps[2], end, RATE, IEM_ANALYSIS_ITD_LOWPASS, &direct_phat);
	check(fabs(direct_phat - hrtf_phat) <= 30.0,
			"default room (%s), hard left: the output's direct sound has ITD %.1f us, "
			"the HRTF at %g deg %.1f us (%+.1f us, +-30; phase transform)", iem_hrtf_describe(h),
			direct_phat, IEM_STAGE_ANGLE_DEFAULT, hrtf_phat, direct_phat - hrtf_phat);

	/* the whole response, over tail noises: the room as the chain builds
	 * it, with seeds 1 … 8 */
	double mean[2] = { 0.0, 0.0 }, lo = INFINITY, hi = -INFINITY;
	const int seeds = 8;
	for (int seed = 1; seed <= seeds; seed++) {
		struct iem_room_config cfg;
		struct iem_room *room = NULL;
		struct iem_analysis ra;
		struct iem_params p;
		iem_params_init(&p);
		iem_room_config_init(&cfg);
		iem_room_config_from_params(&cfg, &p);
		cfg.seed = (uint64_t)seed;
		if (iem_room_render(&cfg, h, RATE, &room, NULL, 0) < 0 ||
		    iem_analysis_run(&room->ir, RATE, &ra) < 0) {
			printf("Bail out! the default room with seed %d\n", seed);
			exit(1);
		}
		for (int sp = 0; sp < 2; sp++) {
			/* outwards positive, towards the centre negative */
			double e = sp ? -ra.speaker[sp].itd_phat_us - hrtf_phat : ra.speaker[sp].itd_phat_us - hrtf_phat;
			mean[sp] += e / seeds;
			lo = fmin(lo, e);
			hi = fmax(hi, e);
		}
		iem_room_free(room);
	}
	check(fabs(mean[0]) <= 30.0 && fabs(mean[1]) <= 30.0,
			"… the whole output's ITD, mean over %d tail noises: %+.1f us (left) / %+.1f us (right) "
			"from the HRTF's (+-30; negative: towards the centre; one noise: %+.1f … %+.1f us)",
			seeds, mean[0], mean[1], lo, hi);
	/* the figure as the chain renders it: hard left through the
	 * default room, the chain's own tail noise */
	check(fabs(k->itd_phat_us - hrtf_phat) <= 30.0,
			"… hard left, the chain's own room: the whole output's ITD %.1f us, the HRTF's %.1f us "
			"(%+.1f us, +-30; phase transform)", k->itd_phat_us, hrtf_phat, k->itd_phat_us - hrtf_phat);
	diag("… the chain's own noise: the whole output's ITD %.1f / %.1f us (phase transform; %+.1f / %+.1f "
			"from the HRTF's, outwards positive), %.1f / %.1f us (low-passed cross-correlation; the HRTF's %.1f us)",
			k->itd_phat_us, a.speaker[1].itd_phat_us, k->itd_phat_us - hrtf_phat,
			-a.speaker[1].itd_phat_us - hrtf_phat, k->itd_us, a.speaker[1].itd_us, hrtf_itd);
	check(k->itd_phat_us > 0.75 * hrtf_phat && a.speaker[1].itd_phat_us < -0.75 * hrtf_phat &&
			k->itd_us > 0.75 * hrtf_itd && a.speaker[1].itd_us < -0.75 * hrtf_itd,
			"… the whole output keeps each side, by both measures: %.1f / %.1f us and %.1f / %.1f us "
			"(beyond 3/4 of +-%.1f and +-%.1f)", k->itd_phat_us, a.speaker[1].itd_phat_us,
			k->itd_us, a.speaker[1].itd_us, hrtf_phat, hrtf_itd);

	/* the same figure from noise rendered through the set: the closed form
	 * of the analysis is what a real signal gives */
	const uint32_t m = 2 * RATE;
	float *x = test_alloc(m, sizeof(float)), *l = test_alloc(m + s.n, sizeof(float));
	float *r = test_alloc(m + s.n, sizeof(float));
	uint64_t seed = 42;
	iem_analysis_noise(&seed, x, m);
	chain_render(&s, (const float *const[2]) { x, NULL }, (float *const[2]) { l, r }, m);
	double itd_noise, phat_noise;
	int rc = iem_analysis_itd(l, r, m + s.n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &itd_noise);
	check(rc == 0 && fabs(itd_noise - k->itd_us) < 10.0,
			"2 s of noise, hard left, rendered: ITD %.1f us, the set's %.1f us", itd_noise, k->itd_us);
	/* one noise through both ears: it cancels from the phase exactly */
	rc = iem_analysis_itd_phat(l, r, m + s.n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &phat_noise);
	check(rc == 0 && fabs(phat_noise - k->itd_phat_us) < 1.0,
			"… phase transform: %.2f us, the set's %.2f us", phat_noise, k->itd_phat_us);
	free(x);
	free(l);
	free(r);

	/* panning: constant power, hard left to hard right in 10 steps */
	float *pl = test_alloc(s.n, sizeof(float)), *pr = test_alloc(s.n, sizeof(float));
	char line[512];
	size_t len = 0;
	double prev_d = INFINITY, prev_w = INFINITY, prev_p = INFINITY;
	bool mono_d = true, mono_w = true, mono_p = true;
	for (int i = 0; i <= 10; i++) {
		double th = M_PI_2 * i / 10.0, itd_d, itd_w, itd_p;
		pan(&s, cos(th), sin(th), pl, pr);
		iem_analysis_itd(pl, pr, s.n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &itd_w);
		iem_analysis_itd(pl, pr, end, RATE, IEM_ANALYSIS_ITD_LOWPASS, &itd_d);
		iem_analysis_itd_phat(pl, pr, s.n, RATE, IEM_ANALYSIS_ITD_LOWPASS, &itd_p);
		mono_d &= itd_d < prev_d;
		mono_w &= itd_w < prev_w;
		mono_p &= itd_p < prev_p;
		prev_d = itd_d;
		prev_w = itd_w;
		prev_p = itd_p;
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %.0f/%.0f/%.0f", itd_d, itd_w, itd_p);
	}
	check(mono_d && mono_w && mono_p, "panning left -> right moves the ITD monotonically "
			"(us, direct/whole/whole by phase):%s", line);
	free(pl);
	free(pr);
	set_free(&s);
	iem_hrtf_free(h);
}

static void test_soundstage(void)
{
	static const char *const anechoic[] = { "stage.mode", "room", "room.rt60", "0", NULL };
	static const char *const room[] = { "stage.mode", "room", NULL };
	static const char *const anechoic_model[] = { "stage.mode", "room", "room.rt60", "0",
		"stage.hrtf", "model", NULL };
	static const char *const room_model[] = { "stage.mode", "room", "stage.hrtf", "model", NULL };
	struct set s;
	struct iem_analysis an, rm;
	double itd;
	bool kemar;
	iem_hrtf_free(auto_hrtf(&itd, &kemar));

	chain_set(&s, anechoic);
	analyse(&s, &an);
	/* mono through the anechoic pair: one source straight ahead */
	check(fabs(an.mono_itd_us) < 0.5 && fabs(an.mono_ild_db) < 0.01 && an.mono_iacc >= 0.9,
			"anechoic, centred: ITD %.2f us, ILD %.3f dB, IACC %.4f (>= 0.9)",
			an.mono_itd_us, an.mono_ild_db, an.mono_iacc);

	/* uncorrelated noise rendered through the set gives the closed form */
	const uint32_t m = RATE;
	float *x[2] = { test_alloc(m, sizeof(float)), test_alloc(m, sizeof(float)) };
	float *const y[2] = { test_alloc(m + s.n, sizeof(float)), test_alloc(m + s.n, sizeof(float)) };
	uint64_t seed[2] = { 11, 12 };
	iem_analysis_noise(&seed[0], x[0], m);
	iem_analysis_noise(&seed[1], x[1], m);
	chain_render(&s, (const float *const[2]) { x[0], x[1] }, y, m);
	double iacc;
	int rc = iem_analysis_iacc(y[0], y[1], m + s.n, RATE, 0, 0, &iacc, NULL);
	check(rc == 0 && fabs(iacc - an.iacc) < 0.05,
			"1 s of uncorrelated noise rendered through the anechoic stage: IACC %.3f, closed form %.3f",
			iacc, an.iacc);
	for (int i = 0; i < 2; i++) {
		free(x[i]);
		free(y[i]);
	}
	set_free(&s);

	chain_set(&s, room);
	analyse(&s, &rm);
	check(fabs(rm.mono_itd_us) <= 20.0 && fabs(rm.mono_ild_db) <= 0.5,
			"default room, centred: ITD %.1f us (+-20: each speaker's tail is its own noise), "
			"ILD %.2f dB", rm.mono_itd_us, rm.mono_ild_db);
	diag("… centred IACC %.3f whole, %.3f early, E3 %.3f: the early part is coherent, the tail "
			"is not (by design, dsp-reference §4.5)", rm.mono_iacc, rm.mono_iacc_e, rm.mono_iacc_e3);
	set_free(&s);

	if (kemar) {
		check(an.iacc_e3 <= 0.4, "KEMAR, anechoic, uncorrelated stereo: IACC_E3 %.3f (<= 0.4; "
				"%.3f / %.3f / %.3f at 500 / 1k / 2k)", an.iacc_e3,
				an.iacc_e_band[0], an.iacc_e_band[1], an.iacc_e_band[2]);
		check(rm.iacc_e3 <= 0.25, "KEMAR, default room: IACC_E3 %.3f (<= 0.25; %.3f / %.3f / %.3f)",
				rm.iacc_e3, rm.iacc_e_band[0], rm.iacc_e_band[1], rm.iacc_e_band[2]);
	} else {
		skip("the bounds are KEMAR's figures and no KEMAR SOFA file is installed");
		skip("the bounds are KEMAR's figures and no KEMAR SOFA file is installed");
	}
	/* the model head, for the record: no pinna, so its 2 kHz octave stays coherent */
	chain_set(&s, anechoic_model);
	analyse(&s, &an);
	set_free(&s);
	chain_set(&s, room_model);
	analyse(&s, &rm);
	set_free(&s);
	diag("model head: IACC_E3 %.3f anechoic (%.3f / %.3f / %.3f), %.3f in the default room",
			an.iacc_e3, an.iacc_e_band[0], an.iacc_e_band[1], an.iacc_e_band[2], rm.iacc_e3);
	check(rm.iacc_e3 < an.iacc_e3, "model head: the room widens the image (IACC_E3 %.3f -> %.3f)",
			an.iacc_e3, rm.iacc_e3);
}

static void test_default_room(void)
{
	static const char *const room[] = { "stage.mode", "room", NULL };
	struct set s;
	struct iem_analysis a;

	chain_set(&s, room);
	analyse(&s, &a);
	for (int sp = 0; sp < 2; sp++) {
		const struct iem_speaker_analysis *k = &a.speaker[sp];
		const char *side = sp ? "right" : "left";
		/* directional speakers (room.c): an omnidirectional pair would
		 * give about -5.4 dB here */
		check(k->drr_db >= 0.0 && k->drr_db <= 6.0,
				"default room, %s speaker: DRR %+.2f dB (0 … +6, dsp-reference §4.3)", side, k->drr_db);
		check(k->c50_db >= 8.0, "… C50 %+.2f dB (>= +8)", k->c50_db);
		bool have = k->n_reflections > 0;
		double t = have ? k->reflection[0].delay_ms : NAN, l = have ? k->reflection[0].level_db : NAN;
		check(have && t >= 3.0 && t <= 20.0 && l <= -6.0 && l >= -15.0,
				"… first reflection %.2f ms after the direct sound (3 … 20) at %+.1f dB (-6 … -15)", t, l);
	}
	set_free(&s);
}

/* The synthesised anechoic left speaker against the SOFA file's HRIR at
 * 30 degrees, read by libmysofa at the same rate: the room's geometry,
 * fractional delays and timbre filter must leave the ITD alone. */
static void test_kemar(void)
{
#if IEM_HAVE_SOFA
	static const char *const anechoic[] = { "stage.mode", "room", "room.rt60", "0", NULL };
	char path[4096];
	int r = iem_hrtf_default_sofa(path, sizeof(path));
	if (r < 0) {
		char why[256];
		snprintf(why, sizeof(why), "no MIT KEMAR SOFA file (%s)", strerror(-r));
		skip(why);
		return;
	}
	int filter_len = 0, err = 0;
	struct MYSOFA_EASY *sofa = mysofa_open_no_norm(path, RATE, &filter_len, &err);
	if (sofa == NULL) {
		check(false, "libmysofa opens %s (error %d)", path, err);
		return;
	}
	float *l = test_alloc((size_t)filter_len, sizeof(float)), *rr = test_alloc((size_t)filter_len, sizeof(float));
	float c[3] = { IEM_STAGE_ANGLE_DEFAULT, 0.0f, 1.4f }, dl, dr;
	double file_itd, synth_itd;
	mysofa_s2c(c);
	mysofa_getfilter_float_nointerp(sofa, c[0], c[1], c[2], l, rr, &dl, &dr);
	iem_analysis_itd(l, rr, (uint32_t)filter_len, RATE, IEM_ANALYSIS_ITD_LOWPASS, &file_itd);
	double file_phat = NAN;
	iem_analysis_itd_phat(l, rr, (uint32_t)filter_len, RATE, IEM_ANALYSIS_ITD_LOWPASS, &file_phat);

	struct set s;
	struct iem_analysis a;
	chain_set(&s, anechoic);
	analyse(&s, &a);
	synth_itd = a.speaker[0].itd_us;
	check(fabs(synth_itd - file_itd) <= 20.0 && s.si.hrtf && strstr(s.si.hrtf, "SOFA"),
			"KEMAR: the synthesised anechoic left speaker's ITD %.1f us, the file's HRIR at 30 deg "
			"%.1f us (%+.1f, +-20; both LP 1.5 kHz at %u Hz)", synth_itd, file_itd,
			synth_itd - file_itd, RATE);
	/* the phase transform does not see the diffuse-field and timbre
	 * filters, which both ears share: only what the synthesis did to
	 * the interaural difference is left */
	check(fabs(a.speaker[0].itd_phat_us - file_phat) <= 2.0,
			"… by phase transform: %.2f us, the file's %.2f us (%+.2f, +-2)",
			a.speaker[0].itd_phat_us, file_phat, a.speaker[0].itd_phat_us - file_phat);
	set_free(&s);
	free(l);
	free(rr);
	mysofa_close(sofa);
#else
	skip("built without libmysofa: no SOFA file to compare with");
#endif
}

int main(void)
{
	test_closed_forms();
	test_bs2b_iacc();
	test_imaging();
	test_soundstage();
	test_default_room();
	test_kemar();
	return iem_test_done();
}
