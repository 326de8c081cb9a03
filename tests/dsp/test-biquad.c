/* SPDX-License-Identifier: MIT */
/*
 * Biquads: designed coefficients against reference vectors, the processed
 * magnitude response of every type against the RBJ closed form, and a
 * 10-band cascade against a long-double reference.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iem-test.h"
#include "iem-test-dsp.h"
#include "example-eq.h"

/* Reference vectors at 48 kHz, computed in double from the cookbook. */
static void test_vectors(void)
{
	static const struct {
		enum iem_filter_type type;
		double f, q, g;
		double c[5];
	} v[] = {
		{ IEM_FILTER_PEAKING, 1000, 1.41, 6, { 1.0315779106, -1.9199761436, 0.9049656314, -1.9199761436, 0.9365435421 } },
		{ IEM_FILTER_PEAKING, 105, 0.70, 2.3, { 1.0025849311, -1.9827598382, 0.9803622038, -1.9827598382, 0.9829471349 } },
		{ IEM_FILTER_LOWSHELF, 105, 0.70, 9.5, { 1.0054494792, -1.9849570862, 0.9798315929, -1.9850648171, 0.9851733412 } },
		{ IEM_FILTER_HIGHSHELF, 10000, 0.70, -3, { 0.8194528513, -0.1699704864, 0.1428793583, -0.4035291734, 0.1958908965 } },
		{ IEM_FILTER_LOWPASS, 1500, M_SQRT1_2, 0, { 0.0084426929, 0.0168853859, 0.0084426929, -1.7237761728, 0.7575469445 } },
		{ IEM_FILTER_HIGHPASS, 20, M_SQRT1_2, 0, { 0.9981505112, -1.9963010224, 0.9981505112, -1.9962976018, 0.9963044430 } },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct iem_biquad bq;
		int r = iem_biquad_design(&bq, v[i].type, 48000, v[i].f, v[i].q, v[i].g);
		double got[5] = { bq.b0, bq.b1, bq.b2, bq.a1, bq.a2 }, worst = 0.0;
		for (int k = 0; k < 5; k++)
			worst = fmax(worst, fabs(got[k] - v[i].c[k]));
		check(r == 0 && worst < 1e-9, "%s %.0f Hz Q %.2f %+.1f dB: coefficients match the reference (worst %.2e)",
				iem_filter_type_name(v[i].type), v[i].f, v[i].q, v[i].g, worst);
	}

	struct iem_biquad bq;
	check(iem_biquad_design(&bq, IEM_FILTER_PEAKING, 48000, 1000, 0, 0) == -EINVAL, "Q 0 is refused");
	check(iem_biquad_design(&bq, IEM_FILTER_PEAKING, 48000, NAN, 1, 0) == -EINVAL, "NaN frequency is refused");
	check(iem_biquad_design(&bq, IEM_FILTER_TYPE_COUNT, 48000, 1000, 1, 0) == -EINVAL, "unknown type is refused");
	check(iem_filter_type_from_name("HighShelf") == IEM_FILTER_HIGHSHELF &&
	      iem_filter_type_from_name("bogus") == -EINVAL, "type names map both ways");
}

struct band_case {
	enum iem_filter_type type;
	double f, q, g;
};

static const struct band_case cases[] = {
	{ IEM_FILTER_PEAKING, 1000, 1.41, 6 },
	{ IEM_FILTER_PEAKING, 20, 4.0, 12 },	/* low and sharp: where float DF-I fails */
	{ IEM_FILTER_PEAKING, 6000, 8.0, -9 },
	{ IEM_FILTER_LOWSHELF, 105, 0.7, 9.5 },
	{ IEM_FILTER_HIGHSHELF, 10000, 0.7, -3 },
	{ IEM_FILTER_LOWPASS, 1500, 0.7071, 0 },
	{ IEM_FILTER_HIGHPASS, 30, 0.7071, 0 },
	{ IEM_FILTER_BANDPASS, 800, 2.0, 0 },
	{ IEM_FILTER_NOTCH, 3000, 4.0, 0 },
	{ IEM_FILTER_ALLPASS, 2000, 0.7, 0 },
};

/* The impulse response of the whole chain with one band and 0 dB preamp. */
static double *chain_ir(const struct band_case *bc, uint32_t rate, size_t n)
{
	struct iem_chain *c = iem_chain_new(rate);
	struct iem_params p;
	const double amp = 0.0625;	/* keeps every IR far below the limiter */
	float *l = test_alloc(n, sizeof(float)), *r = test_alloc(n, sizeof(float));
	double *h = test_alloc(n, sizeof(double));

	iem_params_init(&p);
	p.preamp_auto = false;
	p.band[0] = (struct iem_band) { bc->type, bc->f, bc->q, bc->g, IEM_CHANNELS_BOTH };
	iem_chain_apply(c, &p, NULL);
	iem_chain_reset(c);
	l[0] = r[0] = (float)amp;
	static const uint32_t sizes[] = { 256, 0 };
	test_run(c, l, r, l, r, n, sizes);
	for (size_t i = 0; i < n; i++)
		h[i] = l[i] / amp;
	free(l);
	free(r);
	iem_chain_free(c);
	return h;
}

static void test_magnitude(void)
{
	static const uint32_t rates[] = { 44100, 48000, 96000 };

	for (size_t ri = 0; ri < 3; ri++) {
		const uint32_t rate = rates[ri];
		const size_t n = (size_t)rate * 2;	/* every case has decayed below -150 dB by then */
		for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
			const struct band_case *bc = &cases[ci];
			struct iem_biquad bq;
			double *h = chain_ir(bc, rate, n), worst = 0.0, worst_f = 0.0;

			iem_biquad_design(&bq, bc->type, rate, bc->f, bc->q, bc->g);
			for (int k = 0; k < 200; k++) {
				double f = 20.0 * pow(1000.0, k / 199.0);
				double want = iem_biquad_magnitude_db(&bq, rate, f);
				double got = db(test_dft_mag(h, n, rate, f));
				/* In a notch's null dB differences say nothing:
				 * compare amplitudes there. */
				double err = want > -60.0 ? fabs(got - want) :
					fabs(pow(10.0, got / 20.0) - pow(10.0, want / 20.0)) * 1e4;
				if (err > worst) {
					worst = err;
					worst_f = f;
				}
			}
			check(worst <= 0.01, "%u Hz: %s %.0f Hz Q %.2f %+.1f dB processed magnitude within 0.01 dB of the closed form at 200 points (worst %.2e dB at %.0f Hz)",
					rate, iem_filter_type_name(bc->type), bc->f, bc->q, bc->g, worst, worst_f);
			free(h);
		}
	}
}

/* ---- 10-band cascade against a long double reference ------------------ */

struct ref_bq {
	long double b0, b1, b2, a1, a2;
	long double x1, x2, y1, y2;
};

/* An independent RBJ design in long double (peaking and shelves). */
static void ref_design(struct ref_bq *r, const struct iem_band *b, long double rate)
{
	long double w0 = 2.0L * 3.14159265358979323846264338327950288L * b->freq / rate;
	long double cw = cosl(w0), sw = sinl(w0), alpha = sw / (2.0L * b->q);
	long double A = powl(10.0L, b->gain / 40.0L), sa = 2.0L * sqrtl(A) * alpha;
	long double b0, b1, b2, a0, a1, a2;

	switch (b->type) {
	case IEM_FILTER_LOWSHELF:
		b0 = A * ((A + 1) - (A - 1) * cw + sa);
		b1 = 2 * A * ((A - 1) - (A + 1) * cw);
		b2 = A * ((A + 1) - (A - 1) * cw - sa);
		a0 = (A + 1) + (A - 1) * cw + sa;
		a1 = -2 * ((A - 1) + (A + 1) * cw);
		a2 = (A + 1) + (A - 1) * cw - sa;
		break;
	case IEM_FILTER_HIGHSHELF:
		b0 = A * ((A + 1) + (A - 1) * cw + sa);
		b1 = -2 * A * ((A - 1) + (A + 1) * cw);
		b2 = A * ((A + 1) + (A - 1) * cw - sa);
		a0 = (A + 1) - (A - 1) * cw + sa;
		a1 = 2 * ((A - 1) - (A + 1) * cw);
		a2 = (A + 1) - (A - 1) * cw - sa;
		break;
	default:
		b0 = 1 + alpha * A;
		b1 = -2 * cw;
		b2 = 1 - alpha * A;
		a0 = 1 + alpha / A;
		a1 = -2 * cw;
		a2 = 1 - alpha / A;
		break;
	}
	*r = (struct ref_bq) { b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0, 0, 0, 0, 0 };
}

/* What the peer (PipeWire 0.3.65 filter-chain) runs: float32 DF-I. */
struct f32_bq {
	float b0, b1, b2, a1, a2;
	float x1, x2, y1, y2;
};


static void test_cascade(void)
{
	static const uint32_t rates[] = { 44100, 48000, 96000 };

	for (size_t ri = 0; ri < 3; ri++) {
		const uint32_t rate = rates[ri];
		const size_t n = (size_t)rate * 2;
		struct iem_chain *c = iem_chain_new(rate);
		struct iem_params p;
		struct ref_bq ref[10];
		struct f32_bq peer[10];
		float *l = test_alloc(n, sizeof(float)), *r = test_alloc(n, sizeof(float));
		float *nl = test_alloc(n, sizeof(float)), *nr = test_alloc(n, sizeof(float));
		const double amp = 0.0625;
		uint64_t seed = 0x1e3a9 + rate;

		iem_params_init(&p);
		p.preamp_auto = false;
		memcpy(p.band, iem_example_eq10, sizeof(iem_example_eq10));
		iem_chain_apply(c, &p, NULL);

		/* impulse */
		iem_chain_reset(c);
		l[0] = r[0] = (float)amp;
		static const uint32_t sizes[] = { 256, 0 };
		test_run(c, l, r, l, r, n, sizes);

		/* white noise at -30 dBFS, as music sits well below full scale */
		for (size_t i = 0; i < n; i++)
			nl[i] = nr[i] = (float)(0.0316 * test_noise(&seed));
		float *noise_in = test_alloc(n, sizeof(float));
		memcpy(noise_in, nl, n * sizeof(float));
		iem_chain_reset(c);
		test_run(c, nl, nr, nl, nr, n, sizes);

		for (int pass = 0; pass < 2; pass++) {
			double err_max = 0.0, ref_max = 0.0, e2 = 0.0, r2 = 0.0, pe2 = 0.0;
			for (int k = 0; k < 10; k++) {
				ref_design(&ref[k], &iem_example_eq10[k], rate);
				peer[k] = (struct f32_bq) { (float)ref[k].b0, (float)ref[k].b1, (float)ref[k].b2,
					(float)ref[k].a1, (float)ref[k].a2, 0, 0, 0, 0 };
			}
			for (size_t i = 0; i < n; i++) {
				long double x = pass == 0 ? (i == 0 ? 1.0L : 0.0L) : (long double)noise_in[i];
				float xf = (float)x;
				for (int k = 0; k < 10; k++) {
					struct ref_bq *b = &ref[k];
					long double y = b->b0 * x + b->b1 * b->x1 + b->b2 * b->x2 - b->a1 * b->y1 - b->a2 * b->y2;
					b->x2 = b->x1;
					b->x1 = x;
					b->y2 = b->y1;
					b->y1 = y;
					x = y;
					struct f32_bq *f = &peer[k];
					float yf = f->b0 * xf + f->b1 * f->x1 + f->b2 * f->x2 - f->a1 * f->y1 - f->a2 * f->y2;
					f->x2 = f->x1;
					f->x1 = xf;
					f->y2 = f->y1;
					f->y1 = yf;
					xf = yf;
				}
				double got = pass == 0 ? l[i] / amp : nl[i];
				double e = got - (double)x;
				err_max = fmax(err_max, fabs(e));
				ref_max = fmax(ref_max, fabs((double)x));
				e2 += e * e;
				r2 += (double)(x * x);
				pe2 += ((double)xf - (double)x) * ((double)xf - (double)x);
			}
			if (pass == 0) {
				double rel = db(err_max / ref_max);
				check(rel <= -110.0, "%u Hz: 10-band cascade impulse response within -110 dB of a long double reference (%.1f dB)",
						rate, rel);
			} else {
				double ours = 10.0 * log10(e2 / r2), theirs = 10.0 * log10(pe2 / r2);
				diag("%u Hz, noise through the 10-band EQ: error re reference %.1f dB (ours) vs %.1f dB (float32 DF-I, the peer's structure)",
						rate, ours, theirs);
				check(ours <= -107.0 && ours <= theirs - 40.0,
						"%u Hz: error on noise %.1f dB is >= 40 dB below float32 DF-I's %.1f dB",
						rate, ours, theirs);
			}
		}
		free(l);
		free(r);
		free(nl);
		free(nr);
		free(noise_in);
		iem_chain_free(c);
	}
}

int main(void)
{
	test_vectors();
	test_magnitude();
	test_cascade();
	return iem_test_done();
}
