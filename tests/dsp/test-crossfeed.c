/* SPDX-License-Identifier: MIT */
/*
 * The crossfeed against libbs2b 3.1.0 as measured on Debian 12
 * (dsp-reference §1.1, §1.2): its coefficients for the three presets at
 * 44.1 and 48 kHz, its first 64 output samples for an impulse, its
 * levels; the impulse responses of the three presets against libbs2b
 * itself, when it is installed (Debian's libbs2b-dev); linkwitz and meier
 * against their analog prototypes and their digital closed forms, centred
 * sound through each; the extra delay, tap for tap and by phase; that no
 * type, preset or delay is ever louder than dry; and the chain with
 * stage.mode = crossfeed.
 */
#include <complex.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iem-test.h"
#include "iem-test-dsp.h"

#if IEM_HAVE_BS2B
#include <bs2b.h>
#endif

/* bs2b_cross_feed_d(), default preset, 48 kHz, impulse on L: (L, R) out */
static const double reference[64][2] = {
	{ 7.893818462e-01, 3.268515091e-02 },
	{ -1.986170757e-02, 2.982333344e-02 },
	{ -1.743681991e-02, 2.721208845e-02 },
	{ -1.530798335e-02, 2.482947653e-02 },
	{ -1.343905341e-02, 2.265547923e-02 },
	{ -1.179829847e-02, 2.067183086e-02 },
	{ -1.035786098e-02, 1.886186502e-02 },
	{ -9.093284447e-03, 1.721037456e-02 },
	{ -7.983098269e-03, 1.570348384e-02 },
	{ -7.008453145e-03, 1.432853212e-02 },
	{ -6.152801058e-03, 1.307396721e-02 },
	{ -5.401614319e-03, 1.192924838e-02 },
	{ -4.742138902e-03, 1.088475782e-02 },
	{ -4.163177901e-03, 9.931719843e-03 },
	{ -3.654901427e-03, 9.062127121e-03 },
	{ -3.208679705e-03, 8.268673427e-03 },
	{ -2.816936558e-03, 7.544692248e-03 },
	{ -2.473020777e-03, 6.884100772e-03 },
	{ -2.171093184e-03, 6.281348779e-03 },
	{ -1.906027502e-03, 5.731372010e-03 },
	{ -1.673323312e-03, 5.229549620e-03 },
	{ -1.469029647e-03, 4.771665350e-03 },
	{ -1.289677904e-03, 4.353872105e-03 },
	{ -1.132222961e-03, 3.972659630e-03 },
	{ -9.939914688e-04, 3.624825020e-03 },
	{ -8.726364627e-04, 3.307445804e-03 },
	{ -7.660975169e-04, 3.017855396e-03 },
	{ -6.725657595e-04, 2.753620688e-03 },
	{ -5.904531616e-04, 2.512521609e-03 },
	{ -5.183655740e-04, 2.292532469e-03 },
	{ -4.550790576e-04, 2.091804943e-03 },
	{ -3.995191021e-04, 1.908652540e-03 },
	{ -3.507423826e-04, 1.741536433e-03 },
	{ -3.079207434e-04, 1.589052529e-03 },
	{ -2.703271374e-04, 1.449919677e-03 },
	{ -2.373232813e-04, 1.322968895e-03 },
	{ -2.083488191e-04, 1.207133557e-03 },
	{ -1.829118078e-04, 1.101440427e-03 },
	{ -1.605803651e-04, 1.005001482e-03 },
	{ -1.409753364e-04, 9.170064534e-04 },
	{ -1.237638579e-04, 8.367160152e-04 },
	{ -1.086537044e-04, 7.634555760e-04 },
	{ -9.538832798e-05, 6.966096094e-04 },
	{ -8.374250255e-05, 6.356164827e-04 },
	{ -7.351849940e-05, 5.799637381e-04 },
	{ -6.454273027e-05, 5.291837872e-04 },
	{ -5.666280003e-05, 4.828499823e-04 },
	{ -4.974491929e-05, 4.405730315e-04 },
	{ -4.367163277e-05, 4.019977285e-04 },
	{ -3.833982518e-05, 3.667999678e-04 },
	{ -3.365897040e-05, 3.346840213e-04 },
	{ -2.954959453e-05, 3.053800544e-04 },
	{ -2.594192652e-05, 2.786418583e-04 },
	{ -2.277471357e-05, 2.542447815e-04 },
	{ -1.999418115e-05, 2.319838423e-04 },
	{ -1.755311998e-05, 2.116720066e-04 },
	{ -1.541008450e-05, 1.931386167e-04 },
	{ -1.352868918e-05, 1.762279569e-04 },
	{ -1.187699074e-05, 1.607979457e-04 },
	{ -1.042694582e-05, 1.467189417e-04 },
	{ -9.153934818e-06, 1.338726546e-04 },
	{ -8.036343922e-06, 1.221511514e-04 },
	{ -7.055198111e-06, 1.114559492e-04 },
	{ -6.193838998e-06, 1.016971880e-04 }
};

static void test_reference_ir(void)
{
	struct iem_crossfeed cf;
	float d[64], c[64];
	double worst = 0.0, sum_d = 0.0, sum_c = 0.0;

	check(iem_crossfeed_design(&cf, 700, 4.5, 48000) == 0, "default preset at 48 kHz");
	iem_crossfeed_ir(&cf, d, c, 64);
	for (int n = 0; n < 64; n++) {
		/* the table has 10 significant digits; float carries 7 */
		worst = fmax(worst, fabs(d[n] - reference[n][0]) / fabs(reference[n][0]));
		worst = fmax(worst, fabs(c[n] - reference[n][1]) / fabs(reference[n][1]));
		sum_d += d[n];
		sum_c += c[n];
	}
	check(worst < 1e-6, "the first 64 taps match libbs2b's (direct[0] %.10f, cross[0] %.10f; worst relative error %.2g)",
			d[0], c[0], worst);
	check(fabs(sum_d - 0.626743620) < 1e-6 && fabs(sum_c - 0.372241120) < 1e-6,
			"sums of the 64: direct %.9f (0.626743620), cross %.9f (0.372241120)", sum_d, sum_c);

	/* the whole responses: 0 Hz gains g (1 - G_hi) and g G_lo, 4.5 dB apart, summing to 1 */
	uint32_t n = iem_crossfeed_length(&cf);
	float *dd = test_alloc(n, sizeof(float)), *cc = test_alloc(n, sizeof(float));
	iem_crossfeed_ir(&cf, dd, cc, n);
	double dc_d = 0.0, dc_c = 0.0;
	for (uint32_t i = 0; i < n; i++) {
		dc_d += dd[i];
		dc_c += cc[i];
	}
	/* g (1 - G_hi) and g G_lo from §1.1's formulas: 0.6266991 and
	 * 0.3733009 (§1.1 prints 0.626694 and 0.373306, 5e-6 off both) */
	const double g_lo = pow(10.0, -6.75 / 20.0), g_hi = 1.0 - pow(10.0, -2.25 / 20.0);
	const double g = 1.0 / (1.0 - g_hi + g_lo);
	check(fabs(dc_d - g * (1.0 - g_hi)) < 1e-6 && fabs(dc_c - g * g_lo) < 1e-6 && fabs(dc_d + dc_c - 1.0) < 1e-6 &&
			fabs(db(dc_c / dc_d) + 4.5) < 1e-4,
			"%u taps: 0 Hz gains %.7f (%.7f) and %.7f (%.7f), %.3f dB apart; mono %+.5f dB",
			n, dc_d, g * (1.0 - g_hi), dc_c, g * g_lo, db(dc_c / dc_d), db(dc_d + dc_c));
	check(fabs(dd[n - 1]) < 1e-7 && fabs(cc[n - 1]) < 1e-7 && n < 400, "… both below 1e-7 at the end");

	/* levels against §1.1's table at 1 kHz and 10 kHz */
	double *x = test_alloc(n, sizeof(double)), *y = test_alloc(n, sizeof(double));
	for (uint32_t i = 0; i < n; i++) {
		x[i] = dd[i];
		y[i] = cc[i];
	}
	static const struct { double f, direct, cross; } lv[] = {
		{ 100, -4.03, -8.65 }, { 1000, -2.86, -13.38 }, { 5000, -2.00, -25.57 }, { 10000, -1.95, -31.05 },
	};
	double worst_db = 0.0;
	for (size_t k = 0; k < sizeof(lv) / sizeof(lv[0]); k++) {
		worst_db = fmax(worst_db, fabs(db(test_dft_mag(x, n, 48000, lv[k].f)) - lv[k].direct));
		worst_db = fmax(worst_db, fabs(db(test_dft_mag(y, n, 48000, lv[k].f)) - lv[k].cross));
	}
	check(worst_db < 0.01, "direct and cross levels at 100 Hz … 10 kHz as dsp-reference §1.1 (worst %.4f dB off)", worst_db);
	free(x);
	free(y);
	free(dd);
	free(cc);
}

static void test_presets(void)
{
	static const struct {
		enum iem_crossfeed_preset preset;
		uint32_t rate;
		double a0_lo, b1_lo, a0_hi, a1_hi, gain;
	} ref[] = {
		{ IEM_CROSSFEED_DEFAULT, 44100, 0.043637767880431, 0.905078951270879, 0.969844561978662, -0.867860136319466, 0.812005663461717 },
		{ IEM_CROSSFEED_DEFAULT, 48000, 0.040252368159274, 0.912442886401108, 0.972138350389374, -0.877911420856899, 0.812005663461717 },
		{ IEM_CROSSFEED_CMOY, 44100, 0.037788750135521, 0.905078951270879, 0.973325057308507, -0.870303331836856, 0.838619849405637 },
		{ IEM_CROSSFEED_CMOY, 48000, 0.034857114756686, 0.912442886401108, 0.975356788458414, -0.880181844559216, 0.838619849405637 },
		{ IEM_CROSSFEED_JMEIER, 44100, 0.025169038912885, 0.911549566543479, 0.981987116969286, -0.880307961674743, 0.881786226596937 },
		{ IEM_CROSSFEED_JMEIER, 48000, 0.023209923997577, 0.918434396911850, 0.983366487751099, -0.889473607185239, 0.881786226596937 },
	};
	double worst = 0.0;
	bool ok = true;
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++) {
		struct iem_crossfeed cf;
		double fcut, feed;
		ok &= iem_crossfeed_preset_levels(ref[i].preset, &fcut, &feed) == 0;
		ok &= iem_crossfeed_design(&cf, fcut, feed, ref[i].rate) == 0;
		worst = fmax(worst, fabs(cf.a0_lo - ref[i].a0_lo));
		worst = fmax(worst, fabs(cf.b1_lo - ref[i].b1_lo));
		worst = fmax(worst, fabs(cf.a0_hi - ref[i].a0_hi));
		worst = fmax(worst, fabs(cf.a1_hi - ref[i].a1_hi));
		worst = fmax(worst, fabs(cf.b1_hi + ref[i].a1_hi));
		worst = fmax(worst, fabs(cf.gain - ref[i].gain));
	}
	check(ok && worst < 1e-14, "coefficients of default, cmoy and jmeier at 44.1 and 48 kHz as libbs2b's (worst %.2g)", worst);
	double f, g;
	check(iem_crossfeed_preset_levels(IEM_CROSSFEED_CUSTOM, &f, &g) == -EINVAL, "custom has no levels of its own");
	struct iem_crossfeed cf;
	check(iem_crossfeed_design(&cf, 200, 4.5, 48000) == -EINVAL && iem_crossfeed_design(&cf, 700, 16, 48000) == -EINVAL,
			"fcut and feed outside bs2b's ranges are refused");
}

/* Both responses of each preset at 44.1 and 48 kHz against
 * bs2b_cross_feed_d() run on an impulse (no clipping: its peak output is
 * 0.79 for the default preset), to the end of our responses. */
static void test_libbs2b(void)
{
#if IEM_HAVE_BS2B
	static const struct {
		enum iem_crossfeed_preset preset;
		uint32_t level;
		const char *name;
	} presets[] = {
		{ IEM_CROSSFEED_DEFAULT, BS2B_DEFAULT_CLEVEL, "default" },
		{ IEM_CROSSFEED_CMOY, BS2B_CMOY_CLEVEL, "cmoy" },
		{ IEM_CROSSFEED_JMEIER, BS2B_JMEIER_CLEVEL, "jmeier" },
	};
	static const uint32_t rates[] = { 44100, 48000 };
	char line[512];
	size_t len = 0;
	double worst = 0.0;
	bool ok = true;

	for (size_t i = 0; i < 3; i++) {
		for (size_t k = 0; k < 2; k++) {
			struct iem_crossfeed cf;
			double fcut, feed, here = 0.0;
			ok &= iem_crossfeed_preset_levels(presets[i].preset, &fcut, &feed) == 0;
			ok &= iem_crossfeed_design(&cf, fcut, feed, rates[k]) == 0;
			uint32_t n = iem_crossfeed_length(&cf);
			float *d = test_alloc(n, sizeof(float)), *x = test_alloc(n, sizeof(float));
			double *frames = test_alloc(2 * (size_t)n, sizeof(double));
			iem_crossfeed_ir(&cf, d, x, n);

			t_bs2bdp b = bs2b_open();
			if (b == NULL) {
				check(false, "bs2b_open()");
				return;
			}
			bs2b_set_srate(b, rates[k]);
			bs2b_set_level(b, presets[i].level);
			bs2b_clear(b);
			frames[0] = 1.0;	/* an impulse on L: (L, R) = (direct, cross) */
			bs2b_cross_feed_d(b, frames, (int)n);
			bs2b_close(b);
			for (uint32_t j = 0; j < n; j++) {
				here = fmax(here, fabs(d[j] - frames[2 * j]));
				here = fmax(here, fabs(x[j] - frames[2 * j + 1]));
			}
			worst = fmax(worst, here);
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s/%u %.1e",
					presets[i].name, rates[k], here);
			free(d);
			free(x);
			free(frames);
		}
	}
	check(ok && worst <= 1e-6, "impulse responses against libbs2b %s, both paths to -140 dB "
			"(largest difference, float against libbs2b's double):%s", bs2b_runtime_version(), line);
#else
	printf("ok %u - # SKIP libbs2b is not installed (Debian: libbs2b-dev); "
			"the §1.2 table above stands in for it\n", ++iem_test_count);
#endif
}

/* ---- linkwitz and meier; the extra delay; loudness --------------------------- */

/* The complex response of n taps at f Hz. */
static double complex dft(const float *x, uint32_t n, uint32_t rate, double f)
{
	double complex acc = 0.0;
	for (uint32_t i = 0; i < n; i++)
		acc += x[i] * cexp(-2.0 * I * M_PI * f * i / rate);
	return acc;
}

struct pair {
	struct iem_crossfeed cf;
	uint32_t n;
	float *d, *c;
};

static void pair_make(struct pair *p, enum iem_crossfeed_type type, double fcut, double feed,
		double delay, uint32_t rate)
{
	if (iem_crossfeed_design_type(&p->cf, type, fcut, feed, delay, rate) < 0) {
		printf("Bail out! iem_crossfeed_design_type(%d, %g, %g, %g, %u)\n", type, fcut, feed, delay, rate);
		exit(1);
	}
	p->n = iem_crossfeed_length(&p->cf);
	p->d = test_alloc(p->n, sizeof(float));
	p->c = test_alloc(p->n, sizeof(float));
	iem_crossfeed_ir(&p->cf, p->d, p->c, p->n);
}

static void pair_free(struct pair *p)
{
	free(p->d);
	free(p->c);
}

/* Linkwitz and Meier against their analog prototypes:
 * C(s) = c / (1 + s / w), c = 1 / (1 + 10^(F/20)); D = 1 - c (linkwitz)
 * or 1 - C(s) (meier). The digital low-pass (bs2b's one-pole) is exact at
 * 0 Hz and close below a few kHz. */
static void test_prototypes(void)
{
	static const double freqs[] = { 50, 200, 700, 1500, 3000, 5000 };
	static const uint32_t rates[] = { 44100, 48000, 96000 };
	double worst = 0.0, worst_dc = 0.0, worst_z = 0.0;
	char line[256];
	size_t len = 0;

	for (int t = IEM_CROSSFEED_LINKWITZ; t <= IEM_CROSSFEED_MEIER; t++) {
		for (size_t k = 0; k < 3; k++) {
			struct pair p;
			double fcut = 700.0, feed = 4.5, c = 1.0 / (1.0 + pow(10.0, feed / 20.0));
			pair_make(&p, (enum iem_crossfeed_type)t, fcut, feed, 0.0, rates[k]);
			double here = 0.0, x = exp(-2.0 * M_PI * fcut / rates[k]);
			for (size_t i = 0; i < sizeof(freqs) / sizeof(freqs[0]); i++) {
				double complex cw = c / (1.0 + I * freqs[i] / fcut);
				double complex dw = t == IEM_CROSSFEED_LINKWITZ ? 1.0 - c : 1.0 - cw;
				double complex d = dft(p.d, p.n, rates[k], freqs[i]), cr = dft(p.c, p.n, rates[k], freqs[i]);
				here = fmax(here, fabs(db(cabs(d)) - db(cabs(dw))));
				here = fmax(here, fabs(db(cabs(cr)) - db(cabs(cw))));
				/* and the digital form itself, exactly */
				double complex cz = c * (1.0 - x) / (1.0 - x * cexp(-2.0 * I * M_PI * freqs[i] / rates[k]));
				double complex dz = t == IEM_CROSSFEED_LINKWITZ ? 1.0 - c : 1.0 - cz;
				worst_z = fmax(worst_z, fmax(cabs(d - dz), cabs(cr - cz)));
			}
			worst = fmax(worst, here);
			worst_dc = fmax(worst_dc, fabs(creal(dft(p.c, p.n, rates[k], 0.0)) - c));
			worst_dc = fmax(worst_dc, fabs(creal(dft(p.d, p.n, rates[k], 0.0)) - (1.0 - c)));
			if (k == 1)
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %.3f dB",
						iem_crossfeed_type_name((enum iem_crossfeed_type)t), here);
			pair_free(&p);
		}
	}
	check(worst_dc < 1e-6, "linkwitz and meier, 700 Hz / 4.5 dB: 0 Hz gains 1 - c and c = 1 / (1 + 10^(4.5/20)) "
			"at 44.1, 48, 96 kHz (worst %.2g)", worst_dc);
	check(worst_z < 1e-6, "… their responses 50 Hz … 5 kHz are the one-pole's, c (1 - x) / (1 - x z^-1) "
			"with x = exp(-2 pi fcut / fs), and 1 - c or 1 - that (worst %.2g)", worst_z);
	/* the one-pole's magnitude sits above the prototype's as f / fs grows
	 * (+0.18 dB at 5 kHz and 44.1 kHz): bs2b's low-pass does the same */
	check(worst < 0.25, "… within 0.25 dB of the analog prototypes (worst %.3f dB; at 48 kHz:%s)",
			worst, line);

	/* centred sound: meier's passes exactly (direct + cross is the impulse);
	 * linkwitz's falls to 1 - c in the treble */
	struct pair m, l;
	pair_make(&m, IEM_CROSSFEED_MEIER, 650, 9.5, 0.0, 48000);
	pair_make(&l, IEM_CROSSFEED_LINKWITZ, 700, 4.5, 0.0, 48000);
	double off = 0.0;
	for (uint32_t i = 0; i < m.n; i++)
		off = fmax(off, fabs(m.d[i] + m.c[i] - (i == 0 ? 1.0 : 0.0)));
	double c = 1.0 / (1.0 + pow(10.0, 4.5 / 20.0));
	double complex mono20 = dft(l.d, l.n, 48000, 20.0) + dft(l.c, l.n, 48000, 20.0);
	double complex mono10k = dft(l.d, l.n, 48000, 10000.0) + dft(l.c, l.n, 48000, 10000.0);
	check(off < 1e-7, "meier: a centred signal passes untouched (direct + cross is the impulse to %.1g)", off);
	check(fabs(db(cabs(mono20))) < 0.01 && fabs(db(cabs(mono10k)) - db(1.0 - c + c * 700.0 / 10000.0)) < 0.3,
			"linkwitz: a centred signal at 20 Hz %+.3f dB, at 10 kHz %+.2f dB (1 - c plus what crosses: %+.2f dB)",
			db(cabs(mono20)), db(cabs(mono10k)), db(1.0 - c + c * 700.0 / 10000.0));
	pair_free(&m);
	pair_free(&l);
}

/* The extra delay: the crossfed path is the undelayed one, later by
 * IEM_CROSSFEED_DELAY_LEAD + tau fs samples; the direct path by the lead
 * alone. Whole samples: tap for tap. Fractions: by the phase transform. */
static void test_delay(void)
{
	const uint32_t rate = 48000, lead = IEM_CROSSFEED_DELAY_LEAD;
	double worst_int = 0.0, worst_frac = 0.0;
	char line[256];
	size_t len = 0;

	for (int t = 0; t < IEM_CROSSFEED_TYPE_COUNT; t++) {
		struct pair p0, pi, pf;
		const enum iem_crossfeed_type type = (enum iem_crossfeed_type)t;
		pair_make(&p0, type, 700, 4.5, 0.0, rate);
		pair_make(&pi, type, 700, 4.5, 250.0, rate);	/* 12 samples */
		pair_make(&pf, type, 700, 4.5, 237.0, rate);	/* 11.376 */
		/* the loudness guard may have scaled both paths: compare shapes */
		const double gi = pi.cf.gain / p0.cf.gain;
		for (uint32_t i = 0; i < pi.n; i++) {
			double d0 = i >= lead && i - lead < p0.n ? p0.d[i - lead] : 0.0;
			double c0 = i >= lead + 12 && i - lead - 12 < p0.n ? p0.c[i - lead - 12] : 0.0;
			worst_int = fmax(worst_int, fabs(pi.d[i] - gi * d0));
			worst_int = fmax(worst_int, fabs(pi.c[i] - gi * c0));
		}
		/* fractional: the cross path's delay, and the direct one's lead */
		float *c0 = test_alloc(pf.n, sizeof(float)), *d0 = test_alloc(pf.n, sizeof(float));
		memcpy(c0, p0.c, p0.n * sizeof(float));
		memcpy(d0, p0.d, p0.n * sizeof(float));
		double itd_c = NAN, itd_d = NAN;
		iem_analysis_itd_phat(c0, pf.c, pf.n, rate, 1500.0, &itd_c);
		iem_analysis_itd_phat(d0, pf.d, pf.n, rate, 1500.0, &itd_d);
		double want_c = (lead + 237e-6 * rate) / rate * 1e6, want_d = (double)lead / rate * 1e6;
		worst_frac = fmax(worst_frac, fmax(fabs(itd_c - want_c), fabs(itd_d - want_d)));
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %.3f/%.3f",
				iem_crossfeed_type_name(type), itd_c, itd_d);
		bool tail = fabs(pf.c[pf.n - 1]) < 1e-7 && fabs(pf.d[pf.n - 1]) < 1e-7;
		worst_frac = tail ? worst_frac : INFINITY;
		free(c0);
		free(d0);
		pair_free(&p0);
		pair_free(&pi);
		pair_free(&pf);
	}
	check(worst_int < 1e-7, "delay 250 us at 48 kHz (12 samples): every type's cross path is its undelayed one "
			"%u + 12 taps later, the direct path %u later, tap for tap (worst %.2g)", lead, lead, worst_int);
	check(worst_frac < 0.05, "delay 237 us (11.376 samples): the cross path %.3f us later, the direct path "
			"%.3f us (phase transform, us, cross/direct:%s; worst %.3f us off; both below 1e-7 at the end)",
			(lead + 237e-6 * rate) / rate * 1e6, (double)lead / rate * 1e6, line, worst_frac);
}

/* Never louder than dry: at every frequency neither path, nor a centred
 * signal's sum, nor uncorrelated stereo's power is above 0 dB; for every
 * type, preset and delay. */
static void test_loudness(void)
{
	static const double delays[] = { 0, 100, 250, 420, 700, 1000 };
	const uint32_t rate = 48000;
	double worst = -INFINITY, at_f = 0.0, worst_guard = 0.0;
	const char *what = "";
	char where[96] = "";

	for (int t = 0; t < IEM_CROSSFEED_TYPE_COUNT; t++)
	for (int pr = 0; pr < IEM_CROSSFEED_CUSTOM; pr++)
	for (size_t k = 0; k < sizeof(delays) / sizeof(delays[0]); k++) {
		struct pair p;
		double fcut, feed;
		iem_crossfeed_preset_levels((enum iem_crossfeed_preset)pr, &fcut, &feed);
		pair_make(&p, (enum iem_crossfeed_type)t, fcut, feed, delays[k], rate);
		worst_guard = fmin(worst_guard, db(p.cf.gain));
		for (int i = 0; i <= 300; i++) {
			double f = 10.0 * pow(2300.0, i / 300.0);	/* 10 Hz … 23 kHz */
			double complex d = dft(p.d, p.n, rate, f), c = dft(p.c, p.n, rate, f);
			const double v[4] = { cabs(d), cabs(c), cabs(d + c), sqrt(creal(d * conj(d) + c * conj(c))) };
			static const char *const names[4] = { "direct", "cross", "centred", "uncorrelated" };
			for (int j = 0; j < 4; j++) {
				if (db(v[j]) > worst) {
					worst = db(v[j]);
					at_f = f;
					what = names[j];
					snprintf(where, sizeof(where), "%s, %s, %g us",
							iem_crossfeed_type_name((enum iem_crossfeed_type)t),
							pr == 0 ? "default" : pr == 1 ? "cmoy" : "jmeier", delays[k]);
				}
			}
		}
		pair_free(&p);
	}
	check(worst <= 0.001, "no type, preset or delay (0 … 1000 us) is louder than dry at any frequency: "
			"the loudest is %+.4f dB (%s, %.0f Hz, %s); the guard took at most %.2f dB off",
			worst, what, at_f, where, worst_guard);
}

static void test_type_refusals(void)
{
	struct iem_crossfeed cf;
	check(iem_crossfeed_design_type(&cf, IEM_CROSSFEED_TYPE_COUNT, 700, 4.5, 0, 48000) == -EINVAL &&
			iem_crossfeed_design_type(&cf, IEM_CROSSFEED_MEIER, 700, 4.5, -1, 48000) == -EINVAL &&
			iem_crossfeed_design_type(&cf, IEM_CROSSFEED_MEIER, 700, 4.5, 1001, 48000) == -EINVAL &&
			iem_crossfeed_design_type(&cf, IEM_CROSSFEED_MEIER, 700, 4.5, NAN, 48000) == -EINVAL &&
			iem_crossfeed_design_type(&cf, IEM_CROSSFEED_LINKWITZ, 250, 4.5, 0, 48000) == -EINVAL,
			"a type, delay or cut-off out of range is refused");
	check(strcmp(iem_crossfeed_type_name(IEM_CROSSFEED_LINKWITZ), "linkwitz") == 0 &&
			iem_crossfeed_type_name(IEM_CROSSFEED_TYPE_COUNT) == NULL, "type names");
	/* bs2b by the new door is bs2b by the old */
	struct iem_crossfeed a;
	iem_crossfeed_design(&a, 700, 4.5, 48000);
	iem_crossfeed_design_type(&cf, IEM_CROSSFEED_BS2B, 700, 4.5, 0, 48000);
	check(a.a0_lo == cf.a0_lo && a.b1_hi == cf.b1_hi && a.gain == cf.gain && cf.delay == 0.0,
			"iem_crossfeed_design_type(bs2b, no delay) is iem_crossfeed_design()");
}

/* stage.mode = crossfeed through the chain: its impulse response is the
 * crossfeed's, unscaled. */
static void test_chain(void)
{
	const uint32_t n = 512;
	struct iem_params p;
	struct iem_stage_info si;
	struct iem_crossfeed cf;
	char err[256] = "";
	static const uint32_t sizes[] = { 1, 17, 128, 0 };

	iem_params_init(&p);
	int r = iem_params_set(&p, "stage.mode", "crossfeed", err, sizeof(err));
	r |= iem_params_set(&p, "crossfeed.preset", "custom", err, sizeof(err));
	r |= iem_params_set(&p, "crossfeed.fcut", "500", err, sizeof(err));
	r |= iem_params_set(&p, "crossfeed.feed", "7.2", err, sizeof(err));
	struct iem_chain *c = iem_chain_new(44100);
	iem_chain_apply(c, &p, NULL);
	r |= iem_chain_load_stage(c, &p, &si, err, sizeof(err));
	iem_chain_reset(c);
	check(r == 0 && fabs(si.gain_db) < 1e-9, "stage.mode = crossfeed, custom 500 Hz / 7.2 dB: loaded unscaled (%+.2f dB) %s",
			si.gain_db, err);

	float *in[2] = { test_alloc(n, sizeof(float)), test_alloc(n, sizeof(float)) };
	float *out[2] = { test_alloc(n, sizeof(float)), test_alloc(n, sizeof(float)) };
	float *d = test_alloc(n, sizeof(float)), *x = test_alloc(n, sizeof(float));
	in[0][0] = 0.5f;
	test_run(c, in[0], in[1], out[0], out[1], n, sizes);
	iem_crossfeed_design(&cf, 500, 7.2, 44100);
	iem_crossfeed_ir(&cf, d, x, n);
	double worst = 0.0;
	for (uint32_t i = 0; i < n; i++) {
		worst = fmax(worst, fabs(out[0][i] - 0.5 * d[i]));
		worst = fmax(worst, fabs(out[1][i] - 0.5 * x[i]));
	}
	check(worst < 1e-6, "the chain's impulse response is the crossfeed's (worst %.2g)", worst);

	/* meier with a delay, by name */
	iem_params_set(&p, "crossfeed.type", "meier", NULL, 0);
	iem_params_set(&p, "crossfeed.delay", "300", NULL, 0);
	struct iem_chain *c2 = iem_chain_new(44100);
	iem_chain_apply(c2, &p, NULL);
	r = iem_chain_load_stage(c2, &p, &si, err, sizeof(err));
	iem_chain_reset(c2);
	test_run(c2, in[0], in[1], out[0], out[1], n, sizes);
	iem_chain_free(c2);
	iem_crossfeed_design_type(&cf, IEM_CROSSFEED_MEIER, 500, 7.2, 300, 44100);
	iem_crossfeed_ir(&cf, d, x, n);
	worst = 0.0;
	for (uint32_t i = 0; i < n; i++) {
		worst = fmax(worst, fabs(out[0][i] - 0.5 * d[i]));
		worst = fmax(worst, fabs(out[1][i] - 0.5 * x[i]));
	}
	check(r == 0 && worst < 1e-6, "crossfeed.type = meier, crossfeed.delay = 300: the chain's impulse response "
			"is that crossfeed's (worst %.2g) %s", worst, err);
	iem_params_set(&p, "crossfeed.type", "bs2b", NULL, 0);
	iem_params_set(&p, "crossfeed.delay", "0", NULL, 0);

	/* a preset change is exchanged inside the running convolver */
	iem_params_set(&p, "crossfeed.preset", "jmeier", NULL, 0);
	r = iem_chain_load_stage(c, &p, &si, err, sizeof(err));
	check(r == 0 && si.exchanged, "custom -> jmeier: exchanged in place");
	for (int k = 0; k < 2; k++) {
		free(in[k]);
		free(out[k]);
	}
	free(d);
	free(x);
	iem_chain_free(c);
}

int main(void)
{
	test_reference_ir();
	test_presets();
	test_libbs2b();
	test_prototypes();
	test_delay();
	test_loudness();
	test_type_refusals();
	test_chain();
	return iem_test_done();
}
