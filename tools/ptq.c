/* Post-training quantization in the driver: read calibration and evaluation
 * data, observe every float activation of the model on the calibration set
 * (tools/tap.c), clip each one's range by the chosen method, measure the
 * quantized model against the float one, and keep the most sensitive
 * layers in float until the measured drop is within the budget.  The pass
 * that rewrites the graph is passes/quantize.c; docs/quantization.md says
 * what the methods and the report's figures are. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dataset.h"
#include "ptq.h"
#include "report.h"
#include "tap.h"

#define NBINS 2048

/* ---- progress ------------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct Progress {
	const char *what;
	int total, done;
	double t0, last;
	bool tty;
} Progress;

static void progress_start(Progress *p, const char *what, int total)
{
	*p = (Progress){what, total, 0, now_s(), 0, isatty(2) != 0};
}

static void progress_step(Progress *p)
{
	p->done++;
	double t = now_s();
	if (!p->tty || (t - p->last < 0.1 && p->done < p->total))
		return;
	p->last = t;
	double eta = p->done ? (t - p->t0) / p->done * (p->total - p->done) : 0;
	fprintf(stderr, "\rkiln: %s %d/%d, ETA %.0f s   ", p->what, p->done, p->total, eta);
	if (p->done == p->total)
		fprintf(stderr, "\r%*s\r", 60, "");
}

/* ---- calibration ----------------------------------------------------------------- */

typedef struct Obs {
	const char *name;
	int out;             /* tap output index */
	double lo, hi;       /* observed */
	double *hist;        /* NBINS over [lo, hi] widened to 0 */
} Obs;

static bool load_graph(const Opts *o, Graph **g, Diag *d)
{
	*g = driver_load_verified(o, d);
	return *g != NULL;
}

/* The float activations quantization may need: every f32 graph input and
 * node result. */
static int activation_names(const Graph *g, const char ***out)
{
	const char **v = malloc((g->values.n + 1) * sizeof *v);
	int n = 0;
	for (int i = 0; v && i < g->values.n; i++) {
		const Value *x = &g->values.v[i];
		if (x->kind != VAL_CONST && ir_value_type(g, i)->dt == DT_F32 &&
		    (x->kind == VAL_INPUT || !g->nodes.v[x->def].dead))
			v[n++] = x->name;
	}
	*out = v;
	return n;
}

static bool calibrate(const Opts *o, const Dataset *ds, Obs **obs_out, int *nobs, Diag *d)
{
	Graph *g;
	if (!load_graph(o, &g, d))
		return false;
	const char **names;
	int n = activation_names(g, &names);
	Obs *obs = calloc(n + 1, sizeof *obs);
	Tap t;
	if (!names || !obs || !tap_open(&t, g, o, NULL, names, n, d)) {
		free(names), free(obs);
		return false;  /* (tap_open freed g) */
	}
	float *buf = NULL;
	int64_t most = 0;
	for (int i = 0; i < n; i++) {
		obs[i] = (Obs){.name = strdup(names[i]), .out = t.tap_out[i], .lo = INFINITY, .hi = -INFINITY,
			       .hist = calloc(NBINS, sizeof(double))};
		most = t.numel[obs[i].out] > most ? t.numel[obs[i].out] : most;
	}
	free(names);
	buf = malloc((most + 1) * sizeof *buf);
	bool ok = buf != NULL;
	Progress pr;
	/* Two passes: the ranges, then histograms over them. */
	for (int pass = 0; ok && pass < 2; pass++) {
		progress_start(&pr, pass ? "calibrating (histograms)" : "calibrating (ranges)", ds->n);
		for (int e = 0; ok && e < ds->n; e++) {
			ok = tap_run(&t, (const void *const *)&ds->in[e * ds->nin], d);
			for (int i = 0; ok && i < n; i++) {
				Obs *b = &obs[i];
				tap_read_f32(&t, b->out, buf);
				int64_t m = t.numel[b->out];
				if (!pass) {
					for (int64_t k = 0; k < m; k++)
						if (isfinite(buf[k])) {
							b->lo = buf[k] < b->lo ? buf[k] : b->lo;
							b->hi = buf[k] > b->hi ? buf[k] : b->hi;
						}
					continue;
				}
				double lo = fmin(b->lo, 0), hi = fmax(b->hi, 0), w = (hi - lo) / NBINS;
				for (int64_t k = 0; k < m && w > 0; k++) {
					if (!isfinite(buf[k]))
						continue;
					int bin = (int)((buf[k] - lo) / w);
					b->hist[bin < 0 ? 0 : bin >= NBINS ? NBINS - 1 : bin] += 1;
				}
			}
			progress_step(&pr);
		}
	}
	free(buf);
	tap_close(&t);
	*obs_out = obs;
	*nobs = n;
	return ok;
}

/* ---- choosing the clipping range --------------------------------------------------- */

typedef enum Method { M_MINMAX, M_PERCENTILE, M_MSE, M_ENTROPY, M_AUTO, M_COUNT } Method;
static const char *const method_names[M_COUNT] = {"minmax", "percentile", "mse", "entropy", "auto"};
#define PERCENTILE 99.99

/* The quantization error of histogram h (over [lo, hi]) with range [a, b]:
 * the mean squared error (mse) or KL(P || Q), Q the histogram as the
 * 256 levels see it (entropy). */
static double range_cost(const double *h, double lo, double hi, double a, double b, DType dt, bool kl)
{
	float s;
	int32_t z;
	pass_quant_params(a, b, dt, &s, &z);
	double qlo = dt == DT_I8 ? -128 : 0, qhi = dt == DT_I8 ? 127 : 255, w = (hi - lo) / NBINS;
	if (!kl) {
		double err = 0, tot = 0;
		for (int i = 0; i < NBINS; i++) {
			if (!h[i])
				continue;
			double c = lo + (i + 0.5) * w, q = nearbyint(c / s) + z;
			q = q < qlo ? qlo : q > qhi ? qhi : q;
			err += h[i] * (c - (q - z) * s) * (c - (q - z) * s);
			tot += h[i];
		}
		return tot ? err / tot : 0;
	}
	/* As TensorRT's entropy calibration, for a range [a, b] inside the
	 * histogram: P the bins inside it, the mass outside piled on its edge
	 * bins; Q the bins inside it (without that mass) merged into the 256
	 * levels and spread evenly over each level's nonempty bins of P. */
	double *p = malloc(NBINS * sizeof *p), *lev = calloc(256 + 1, sizeof *lev);
	int *cnt = calloc(256 + 1, sizeof *cnt), *li = malloc(NBINS * sizeof *li);
	int zbin = (int)(-lo / w);
	zbin = zbin >= NBINS ? NBINS - 1 : zbin;
	int i0 = (int)floor((a - lo) / w), i1 = (int)ceil((b - lo) / w) - 1;
	i0 = i0 < 0 ? 0 : i0, i1 = i1 >= NBINS ? NBINS - 1 : i1 < i0 ? i0 : i1;
	double tp = 0, tq = 0, kld = 0;
	for (int i = 0; i < NBINS; i++)
		p[i] = 0;
	for (int i = 0; i < NBINS; i++) {
		int k = i < i0 ? i0 : i > i1 ? i1 : i;
		if (k != i) {
			p[k] += h[i];
			continue;
		}
		double c = lo + (i + 0.5) * w, q = nearbyint(c / s) + z;
		q = q < qlo ? qlo : q > qhi ? qhi : q;
		/* the bin of 0 is a level of its own: 0 is exact (the zero point),
		 * and a relu's spike there is no error */
		li[i] = i == zbin ? 256 : (int)(q - qlo);
		lev[li[i]] += h[i];
		tq += h[i];
	}
	for (int i = i0; i <= i1; i++) {
		p[i] += i > i0 && i < i1 ? h[i] : (i == i0 ? h[i] : 0) + (i == i1 && i1 != i0 ? h[i] : 0);
		cnt[li[i]] += p[i] > 0;
		tp += p[i];
	}
	for (int i = i0; i <= i1 && tp > 0 && tq > 0; i++) {
		if (!p[i])
			continue;
		double q = lev[li[i]] / cnt[li[i]] / tq;
		kld += q > 0 ? p[i] / tp * log(p[i] / tp / q) : p[i] / tp * log(p[i] / tp / 1e-12);
	}
	free(p), free(lev), free(cnt), free(li);
	return kld;
}

/* The range of one observation by method m. */
static void choose_range(const Obs *b, Method m, DType dt, double *lo_out, double *hi_out)
{
	double lo = fmin(b->lo, 0), hi = fmax(b->hi, 0), w = (hi - lo) / NBINS;
	*lo_out = lo, *hi_out = hi;
	if (m == M_MINMAX || !(w > 0))
		return;
	double tot = 0;
	for (int i = 0; i < NBINS; i++)
		tot += b->hist[i];
	if (m == M_PERCENTILE) {
		double cut = tot * (1 - PERCENTILE / 100), acc = 0;
		int i = 0;
		while (i < NBINS - 1 && acc + b->hist[i] <= cut)
			acc += b->hist[i++];
		int j = NBINS - 1;
		for (acc = 0; j > 0 && acc + b->hist[j] <= cut;)
			acc += b->hist[j--];
		*lo_out = fmin(lo + i * w, 0);
		*hi_out = fmax(lo + (j + 1) * w, 0);
		return;
	}
	/* mse, entropy: the range shrunk toward 0 by the factor of least cost
	 * (ties: the widest) */
	double best = INFINITY, bf = 1;
	for (int k = 0; k <= 190; k++) {
		double f = 1 - k * 0.004;
		double c = range_cost(b->hist, lo, hi, lo * f, hi * f, dt, m == M_ENTROPY);
		if (c < best * (1 - 1e-12)) {
			best = c;
			bf = f;
		}
	}
	*lo_out = lo * bf, *hi_out = hi * bf;
}

/* ---- evaluation ---------------------------------------------------------------------- */

typedef struct Metrics {
	int n;
	double agree;                 /* top-1 agreement with float, % */
	double acc_f, acc_q;          /* top-1 accuracy against labels, % (NAN: no labels) */
	double drop;                  /* acc_f - acc_q with labels, else 100 - agree (points) */
	int nout;
	double sqnr[MAX_FILES], cosine[MAX_FILES];
	int nlayer;
	const char **layer;           /* tapped values (edits' float names) */
	double *layer_sqnr;
} Metrics;

static int argmax(const float *x, int64_t n)
{
	int64_t b = 0;
	for (int64_t i = 1; i < n; i++)
		b = x[i] > x[b] ? i : b;
	return (int)b;
}

static double db(double sig, double noise) { return noise > 0 ? 10 * log10(sig / noise) : INFINITY; }

/* The float outputs of every example of ds (rows of float_out[k]). */
typedef struct FloatRun {
	int nout;
	int64_t numel[MAX_FILES];
	float *out[MAX_FILES];   /* ds->n * numel */
	int ntap;
	const char **tap;        /* value names */
	int64_t *tap_numel;
	float **tapv;            /* ds->n * numel each */
} FloatRun;

static void float_run_free(FloatRun *f)
{
	for (int i = 0; i < f->nout; i++)
		free(f->out[i]);
	for (int i = 0; i < f->ntap; i++)
		free(f->tapv[i]);
	free(f->tapv), free(f->tap_numel);
	memset(f, 0, sizeof *f);
}

static bool float_run(const Opts *o, const Dataset *ds, const char **taps, int ntap, FloatRun *f, Diag *d)
{
	memset(f, 0, sizeof *f);
	Graph *g;
	Tap t;
	if (!load_graph(o, &g, d) || !tap_open(&t, g, o, NULL, taps, ntap, d))
		return false;
	f->nout = t.norig < MAX_FILES ? t.norig : MAX_FILES;
	f->ntap = ntap;
	f->tap = taps;
	f->tap_numel = calloc(ntap + 1, sizeof *f->tap_numel);
	f->tapv = calloc(ntap + 1, sizeof *f->tapv);
	bool ok = f->tap_numel && f->tapv;
	for (int i = 0; ok && i < f->nout; i++)
		ok = (f->out[i] = malloc(((size_t)ds->n * (f->numel[i] = t.numel[i]) + 1) * sizeof(float))) != NULL;
	for (int i = 0; ok && i < ntap; i++)
		ok = (f->tapv[i] = malloc(((size_t)ds->n * (f->tap_numel[i] = t.numel[t.tap_out[i]]) + 1) * sizeof(float))) != NULL;
	for (int e = 0; ok && e < ds->n; e++) {
		ok = tap_run(&t, (const void *const *)&ds->in[e * ds->nin], d);
		for (int i = 0; ok && i < f->nout; i++)
			tap_read_f32(&t, i, f->out[i] + e * f->numel[i]);
		for (int i = 0; ok && i < ntap; i++)
			tap_read_f32(&t, t.tap_out[i], f->tapv[i] + e * f->tap_numel[i]);
	}
	tap_close(&t);
	if (!ok && !d->nerr)
		diag_error(d, o->model, NULL, NULL, "out of memory");
	return ok;
}

/* Build the quantized model with plan, run it on ds and compare with fr;
 * taps: the quantized names of fr's taps (NULL: none). */
static bool evaluate(const Opts *o, const Dataset *ds, const FloatRun *fr, const QuantPlan *plan, const char **qtaps,
		     Metrics *m, Diag *d)
{
	Graph *g;
	Tap t;
	int ntap = qtaps ? fr->ntap : 0;
	if (!load_graph(o, &g, d) || !tap_open(&t, g, o, plan, qtaps, ntap, d))
		return false;
	memset(m, 0, sizeof *m);
	m->n = ds->n;
	m->nout = fr->nout;
	int64_t most = 0;
	for (int i = 0; i < t.nout; i++)
		most = t.numel[i] > most ? t.numel[i] : most;
	float *buf = malloc((most + 1) * sizeof *buf);
	double *ss = calloc(2 * (fr->nout + ntap) + 1, sizeof *ss), *dot = calloc(fr->nout + 1, 3 * sizeof *dot);
	bool ok = buf && ss && dot;
	int agree = 0, right_f = 0, right_q = 0;
	int64_t row = fr->nout ? (fr->numel[0] > 0 ? fr->numel[0] : 1) : 1;
	const Type *ty0 = t.ty[0];
	int64_t cls = ty0->rank ? ty0->dims[ty0->rank - 1] : 1, rows = cls > 0 ? row / cls : 0;
	for (int e = 0; ok && e < ds->n; e++) {
		ok = tap_run(&t, (const void *const *)&ds->in[e * ds->nin], d);
		for (int i = 0; ok && i < fr->nout; i++) {
			const float *f = fr->out[i] + e * fr->numel[i];
			tap_read_f32(&t, i, buf);
			for (int64_t k = 0; k < fr->numel[i]; k++) {
				double df = f[k], dq = buf[k];
				ss[2 * i] += df * df;
				ss[2 * i + 1] += (df - dq) * (df - dq);
				dot[3 * i] += df * dq, dot[3 * i + 1] += df * df, dot[3 * i + 2] += dq * dq;
			}
			if (i == 0 && cls > 1)
				for (int64_t r = 0; r < rows; r++) {
					int a = argmax(f + r * cls, cls), b = argmax(buf + r * cls, cls);
					agree += a == b;
					if (rows == 1 && ds->label[e] >= 0) {
						right_f += a == ds->label[e];
						right_q += b == ds->label[e];
					}
				}
		}
		for (int i = 0; ok && i < ntap; i++) {
			const float *f = fr->tapv[i] + e * fr->tap_numel[i];
			tap_read_f32(&t, t.tap_out[i], buf);
			double *s = &ss[2 * (fr->nout + i)];
			for (int64_t k = 0; k < fr->tap_numel[i]; k++) {
				s[0] += (double)f[k] * f[k];
				s[1] += ((double)f[k] - buf[k]) * ((double)f[k] - buf[k]);
			}
		}
	}
	if (ok) {
		int64_t nrows = (int64_t)ds->n * rows;
		m->agree = cls > 1 && nrows ? 100.0 * agree / nrows : NAN;
		bool lab = ds->labelled && rows == 1 && cls > 1;
		m->acc_f = lab ? 100.0 * right_f / ds->n : NAN;
		m->acc_q = lab ? 100.0 * right_q / ds->n : NAN;
		m->drop = lab ? m->acc_f - m->acc_q : 100 - m->agree;
		for (int i = 0; i < fr->nout; i++) {
			m->sqnr[i] = db(ss[2 * i], ss[2 * i + 1]);
			m->cosine[i] = dot[3 * i + 1] > 0 && dot[3 * i + 2] > 0 ? dot[3 * i] / sqrt(dot[3 * i + 1] * dot[3 * i + 2]) : NAN;
		}
		m->nlayer = ntap;
		m->layer = fr->tap;
		m->layer_sqnr = calloc(ntap + 1, sizeof *m->layer_sqnr);
		for (int i = 0; m->layer_sqnr && i < ntap; i++)
			m->layer_sqnr[i] = db(ss[2 * (fr->nout + i)], ss[2 * (fr->nout + i) + 1]);
	}
	free(buf), free(ss), free(dot);
	tap_close(&t);
	return ok;
}

/* ---- the plan ------------------------------------------------------------------------ */

static void plan_set_ranges(Ptq *p, const Obs *obs, int n, Method m, DType dt)
{
	for (int i = 0; i < n; i++) {
		p->ranges[i].value = obs[i].name;
		choose_range(&obs[i], m, dt, &p->ranges[i].lo, &p->ranges[i].hi);
	}
	p->plan.ranges = p->ranges;
	p->plan.nranges = n;
	p->plan.act_dt = dt;
}

/* The quantize pass's edits for plan on a fresh graph (the names to tap). */
static bool plan_edits(const Opts *o, const QuantPlan *plan, QuantEdits *ed, Graph **gout, Diag *d)
{
	Graph *g;
	if (!load_graph(o, &g, d))
		return false;
	memset(ed, 0, sizeof *ed);
	PassCtx cx = {.diag = d, .quant = plan, .quant_edits = ed};
	pass_quantize(g, &cx);
	*gout = g;
	return !d->nerr;
}

/* A relu or clip that the quantize pass folds into the compute op before it. */
static bool absorbed(const Graph *g, const Node *n)
{
	if (n->op != OP_RELU && n->op != OP_CLIP)
		return false;
	const Value *x = &g->values.v[n->in[0]];
	return x->kind == VAL_NODE && pass_quantize_layer(g->nodes.v[x->def].op) &&
	       (ir_ops[g->nodes.v[x->def].op].flags & OPF_UNARY) == 0;
}

/* The nodes that may go back to float: those with an integer form, in
 * graph order, by name (or their result's name). */
static int layer_nodes(const Graph *g, const char ***out)
{
	const char **v = malloc((g->nodes.n + 1) * sizeof *v);
	int n = 0;
	for (int i = 0; v && i < g->nodes.n; i++) {
		const Node *k = &g->nodes.v[i];
		if (!k->dead && pass_quantize_layer(k->op) && !absorbed(g, k) && ir_value_type(g, k->out)->dt == DT_F32)
			v[n++] = k->name && k->name[0] ? k->name : g->values.v[k->out].name;  /* (unnamed: by its result) */
	}
	*out = v;
	return n;
}

typedef struct Sens {
	const char *node;
	double drop;     /* measured with this node alone in float */
	double sqnr;     /* of the first output, the same way (ties of drop: the higher first) */
	int order;
} Sens;

static int sens_cmp(const void *a, const void *b)
{
	const Sens *x = a, *y = b;
	if (x->drop != y->drop)
		return x->drop < y->drop ? -1 : 1;
	if (x->sqnr != y->sqnr && !isnan(x->sqnr) && !isnan(y->sqnr))
		return x->sqnr > y->sqnr ? -1 : 1;
	return x->order - y->order;
}

static void json_num(FILE *f, double x)
{
	if (isfinite(x))
		fprintf(f, "%.6g", x);
	else
		fputs(isinf(x) && x > 0 ? "\"inf\"" : "null", f);
}

/* The report's "ptq" object. */
static char *ptq_json(const Opts *o, Method m, const Dataset *cal, const Dataset *ev, bool independent,
		      const Metrics *mt, const Graph *g, const QuantEdits *ed, const Ptq *p, const Sens *sens, int nsens,
		      double budget)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "{\n    \"method\": \"%s\"%s, \"activations\": \"%s per tensor\", \"weights\": \"i8 symmetric per output channel\",\n",
		method_names[m], o->calib_method ? "" : ", \"method_chosen_by\": \"auto: least measured drop, then highest output SQNR\"",
		p->plan.act_dt == DT_I8 ? "i8" : "u8");
	fprintf(f, "    \"calibration_examples\": %d, \"evaluation_examples\": %d, \"evaluated_on\": ", cal->n, ev->n);
	report_json_str(f, independent ? o->eval_dir : o->calib_dir);
	fprintf(f, ", \"independent\": %s,\n", independent ? "true" : "false");
	if (!independent)
		fprintf(f, "    \"note\": \"measured on the calibration set: not an independent measure of accuracy (give --eval DIR)\",\n");
	fprintf(f, "    \"top1_agreement\": ");
	json_num(f, mt->agree);
	fprintf(f, ", \"top1_accuracy_float\": ");
	json_num(f, mt->acc_f);
	fprintf(f, ", \"top1_accuracy_quantized\": ");
	json_num(f, mt->acc_q);
	fprintf(f, ", \"accuracy_drop\": ");
	json_num(f, mt->drop);
	fprintf(f, ", \"drop_measures\": \"%s\",\n", isnan(mt->acc_f) ? "100 - top1_agreement" : "top1_accuracy_float - top1_accuracy_quantized");
	if (budget >= 0) {
		fprintf(f, "    \"max_accuracy_drop\": ");
		json_num(f, budget);
		fprintf(f, ", \"sensitivity\": [");
		for (int i = 0; i < nsens; i++) {
			fprintf(f, "%s{\"node\": ", i ? ", " : "");
			report_json_str(f, sens[i].node);
			fprintf(f, ", \"drop_with_it_in_float\": ");
			json_num(f, sens[i].drop);
			fprintf(f, ", \"output_sqnr_db_with_it_in_float\": ");
			json_num(f, sens[i].sqnr);
			fputc('}', f);
		}
		fprintf(f, "],\n");
	}
	fprintf(f, "    \"float_nodes\": [");
	for (int i = 0; i < p->plan.nfloat; i++) {
		fputs(i ? ", " : "", f);
		report_json_str(f, p->plan.float_nodes[i]);
	}
	fprintf(f, "],\n    \"outputs\": [");
	for (int i = 0; i < mt->nout; i++) {
		fprintf(f, "%s{\"name\": ", i ? ", " : "");
		report_json_str(f, g->values.v[g->outputs.v[i]].name);
		fprintf(f, ", \"sqnr_db\": ");
		json_num(f, mt->sqnr[i]);
		fprintf(f, ", \"cosine\": ");
		json_num(f, mt->cosine[i]);
		fputc('}', f);
	}
	/* Layers: each node of the quantized graph whose result got a pair. */
	fprintf(f, "],\n    \"layers\": [");
	int64_t wf = 0, wq = 0;
	int k = 0;
	for (int i = 0; i < g->nodes.n; i++) {
		const Node *n = &g->nodes.v[i];
		if (n->dead || n->op == OP_QUANTIZE || n->op == OP_DEQUANTIZE || !pass_quantize_layer(n->op) || absorbed(g, n))
			continue;
		/* the pair after it (through an absorbed relu/clip) */
		const QuantEdit *act = NULL;
		for (int j = 0; j < ed->n && !act; j++) {
			if (ed->v[j].kind != QE_ACTIVATION)
				continue;
			ValueId v = ir_find_value(g, ed->v[j].float_name);
			const Value *x = v >= 0 ? ir_value((Graph *)g, v) : NULL;
			if (x && x->kind == VAL_NODE) {
				const Node *pn = &g->nodes.v[x->def];
				if (pn == n || ((pn->op == OP_RELU || pn->op == OP_CLIP) && ir_value((Graph *)g, pn->in[0])->kind == VAL_NODE &&
						&g->nodes.v[ir_value((Graph *)g, pn->in[0])->def] == n))
					act = &ed->v[j];
			}
		}
		const QuantEdit *w = NULL;
		for (int j = 1; j < n->nin && j < 2 && !w; j++)
			for (int e = 0; e < ed->n && !w; e++)
				if (ed->v[e].kind == QE_WEIGHT && n->in[j] >= 0 && !strcmp(ir_value((Graph *)g, n->in[j])->name, ed->v[e].dq_name))
					w = &ed->v[e];
		fprintf(f, "%s\n      {\"node\": ", k++ ? "," : "");
		report_json_str(f, n->name && n->name[0] ? n->name : g->values.v[n->out].name);
		fprintf(f, ", \"op\": \"%s\", \"dtype\": \"%s\"", ir_ops[n->op].name, act ? ir_dtype_name(act->dt) : "f32");
		if (act)
			fprintf(f, ", \"scale\": %.9g, \"zero_point\": %d", act->q->scale[0], act->q->zero[0]);
		int64_t bytes_f = 0, bytes_q = 0;
		if (w) {
			float lo = INFINITY, hi = 0;
			for (int c = 0; c < w->q->n; c++)
				lo = fminf(lo, w->q->scale[c]), hi = fmaxf(hi, w->q->scale[c]);
			ValueId wv = ir_find_value(g, w->q_name);
			bytes_q = ir_type_bytes(ir_value_type(g, wv));
			bytes_f = 4 * bytes_q;
			fprintf(f, ", \"weight_dtype\": \"i8\", \"weight_scales\": {\"channels\": %d, \"min\": %.9g, \"max\": %.9g}", w->q->n, lo, hi);
		} else if (n->nin > 1 && n->in[1] >= 0 && ir_value((Graph *)g, n->in[1])->kind == VAL_CONST) {
			bytes_f = bytes_q = ir_type_bytes(ir_value_type(g, n->in[1]));
			fprintf(f, ", \"weight_dtype\": \"%s\"", ir_dtype_name(ir_value_type(g, n->in[1])->dt));
		}
		wf += bytes_f, wq += bytes_q;
		double sq = NAN;
		for (int j = 0; act && j < mt->nlayer; j++)
			if (!strcmp(mt->layer[j], act->float_name) || !strcmp(mt->layer[j], act->value))
				sq = mt->layer_sqnr[j];
		fprintf(f, ", \"sqnr_db\": ");
		json_num(f, sq);
		fprintf(f, ", \"macs\": %lld, \"weight_bytes_float\": %lld, \"weight_bytes\": %lld}", (long long)report_node_macs(g, n),
			(long long)bytes_f, (long long)bytes_q);
	}
	fprintf(f, "\n    ],\n    \"totals\": {\"layer_weight_bytes_float\": %lld, \"layer_weight_bytes\": %lld, \"ratio\": ", (long long)wf,
		(long long)wq);
	json_num(f, wf ? (double)wq / wf : NAN);
	fprintf(f, "}\n  }");
	fclose(f);
	return buf;
}

static Method method_of(const char *s)
{
	for (int m = 0; s && m < M_COUNT; m++)
		if (!strcmp(s, method_names[m]))
			return (Method)m;
	return M_COUNT;
}

int ptq_prepare(Opts *o, Ptq *p)
{
	memset(p, 0, sizeof *p);
	if (o->quantize && strcmp(o->quantize, "int8"))
		return driver_fail("--quantize '%s': expected int8", o->quantize);
	if (!o->calib_dir)
		return driver_fail("%s: quantizing needs calibration data: --calib DIR", o->model ? o->model : o->cmd);
	Method m = o->calib_method ? method_of(o->calib_method) : M_AUTO;
	if (m == M_COUNT)
		return driver_fail("--calib-method '%s': expected auto, minmax, percentile, mse or entropy", o->calib_method);
	if (!o->model)
		return driver_fail("%s: no model file given", o->cmd);
	Diag d;
	diag_init(&d);
	Graph *g0 = driver_load_verified(o, &d);
	if (!g0)
		return driver_fail_diag(&d);
	Dataset cal = {0}, ev = {0};
	char err[700];
	int rc = 1;
	Obs *obs = NULL;
	int nobs = 0;
	FloatRun fr = {0};
	QuantEdits ed = {0};
	Graph *gq = NULL;
	Metrics mt = {0};
	Sens *sens = NULL;
	int nsens = 0;
	const char **layers = NULL;
	if (!ds_read(o->calib_dir, g0, &cal, err, sizeof err)) {
		driver_fail("--calib: %s", err);
		goto done;
	}
	if (o->eval_dir && !ds_read(o->eval_dir, g0, &ev, err, sizeof err)) {
		driver_fail("--eval: %s", err);
		goto done;
	}
	const Dataset *evs = o->eval_dir ? &ev : &cal;
	if (!calibrate(o, &cal, &obs, &nobs, &d))
		goto fail;
	p->ranges = calloc(nobs + 1, sizeof *p->ranges);
	if (!p->ranges)
		goto fail;
	/* u8 activations where the dot products take u8 x i8 (x86), i8 where
	 * they take i8 x i8 (Arm, RISC-V, Cortex-M) */
	DType adt = o->target && strncmp(o->target, "x86_64", 6) && strncmp(o->target, "i686", 4) ? DT_I8 : DT_U8;
	plan_set_ranges(p, obs, nobs, m == M_AUTO ? M_MINMAX : m, adt);
	/* The values the pass quantizes, tapped in both models (the same
	 * values whatever the ranges). */
	if (!plan_edits(o, &p->plan, &ed, &gq, &d))
		goto fail;
	int nt = 0;
	const char **ft = calloc(ed.n + 1, sizeof *ft), **qt = calloc(ed.n + 1, sizeof *qt);
	for (int i = 0; ft && qt && i < ed.n; i++)
		if (ed.v[i].kind == QE_ACTIVATION) {
			ft[nt] = ed.v[i].value;   /* (the float graph's name) */
			qt[nt++] = ed.v[i].q_name;
		}
	if (!ft || !qt || !float_run(o, evs, ft, nt, &fr, &d)) {
		free(qt);
		goto fail;
	}
	/* auto: the method of least measured drop, then of highest SQNR of
	 * the first output (ties: the first in the list). */
	if (m == M_AUTO) {
		Method best = M_MINMAX;
		double bd = INFINITY, bs = -INFINITY;
		for (Method k = 0; k < M_AUTO; k++) {
			Metrics mk;
			plan_set_ranges(p, obs, nobs, k, adt);
			if (!evaluate(o, evs, &fr, &p->plan, NULL, &mk, &d)) {
				free(qt);
				goto fail;
			}
			double dk = isnan(mk.drop) ? 0 : mk.drop;
			if (dk < bd - 1e-9 || (fabs(dk - bd) <= 1e-9 && mk.sqnr[0] > bs)) {
				best = k;
				bd = dk;
				bs = mk.sqnr[0];
			}
			free(mk.layer_sqnr);
		}
		m = best;
		plan_set_ranges(p, obs, nobs, m, adt);
	}
	if (!evaluate(o, evs, &fr, &p->plan, qt, &mt, &d)) {
		free(qt);
		goto fail;
	}
	free(qt);
	if (o->max_drop >= 0 && !(mt.drop <= o->max_drop)) {
		if (isnan(mt.drop)) {
			driver_fail("%s: --max-accuracy-drop needs a classifier (the first output's last axis holds the classes)", o->model);
			goto done;
		}
		/* Sensitivity: each layer alone in float. */
		int nl = layer_nodes(g0, &layers);
		sens = calloc(nl + 1, sizeof *sens);
		p->float_names = calloc(nl + 1, sizeof *p->float_names);
		if (!sens || !p->float_names)
			goto fail;
		Progress pr;
		progress_start(&pr, "measuring layer sensitivity", nl);
		for (int i = 0; i < nl; i++) {
			Metrics mi;
			QuantPlan one = p->plan;
			one.float_nodes = &layers[i];
			one.nfloat = 1;
			if (!evaluate(o, evs, &fr, &one, NULL, &mi, &d))
				goto fail;
			sens[nsens++] = (Sens){layers[i], mi.drop, mi.sqnr[0], i};
			free(mi.layer_sqnr);
			progress_step(&pr);
		}
		qsort(sens, nsens, sizeof *sens, sens_cmp);
		/* The most sensitive first, until inside the budget. */
		double best = mt.drop;
		int k = 0;
		while (!(mt.drop <= o->max_drop) && k < nsens) {
			p->float_names[k] = strdup(sens[k].node);
			p->plan.float_nodes = (const char *const *)p->float_names;
			p->plan.nfloat = ++k;
			free(mt.layer_sqnr);
			if (!evaluate(o, evs, &fr, &p->plan, NULL, &mt, &d))
				goto fail;
			best = fmin(best, mt.drop);
		}
		if (!(mt.drop <= o->max_drop)) {
			driver_fail("%s: --max-accuracy-drop %g not reached: the least drop measured was %.2f points (%d of %d layers in float)",
				    o->model, o->max_drop, best, k, nsens);
			goto done;
		}
		/* The final mix, measured with its taps for the report. */
		ir_graph_free(gq);
		gq = NULL;
		free(ed.v);
		if (!plan_edits(o, &p->plan, &ed, &gq, &d))
			goto fail;
		nt = 0;
		qt = calloc(ed.n + 1, sizeof *qt);
		const char **ft2 = calloc(ed.n + 1, sizeof *ft2);
		for (int i = 0; qt && ft2 && i < ed.n; i++)
			if (ed.v[i].kind == QE_ACTIVATION) {
				ft2[nt] = ed.v[i].value;
				qt[nt++] = ed.v[i].q_name;
			}
		float_run_free(&fr);
		free(ft);
		ft = ft2;
		free(mt.layer_sqnr);
		if (!qt || !ft || !float_run(o, evs, ft, nt, &fr, &d) || !evaluate(o, evs, &fr, &p->plan, qt, &mt, &d)) {
			free(qt);
			goto fail;
		}
		free(qt);
	}
	p->json = ptq_json(o, m, &cal, evs, o->eval_dir != NULL, &mt, gq, &ed, p, sens, nsens, o->max_drop);
	free(ft);
	if (!o->eval_dir)
		fprintf(stderr, "kiln: note: %s: top-1 agreement with float %.2f%% on the calibration set (not an independent measure; give --eval DIR)\n",
			o->model, mt.agree);
	rc = 0;
	goto done;
fail:
	rc = driver_fail_diag(&d);
done:
	free(mt.layer_sqnr);
	float_run_free(&fr);
	free(ed.v);
	free(sens);
	free(layers);
	if (gq)
		ir_graph_free(gq);
	ir_graph_free(g0);
	ds_free(&cal);
	ds_free(&ev);
	if (rc) {
		for (int i = 0; i < nobs; i++)
			free((char *)obs[i].name);
		nobs = 0;
		p->ranges = NULL;
	}
	for (int i = 0; i < nobs; i++)
		free(obs[i].hist);
	free(obs);  /* (the names live on in p->ranges) */
	if (rc)
		ptq_free(p);
	diag_free(&d);
	return rc;
}

void ptq_free(Ptq *p)
{
	for (int i = 0; p->ranges && i < p->plan.nranges; i++)
		free((char *)p->ranges[i].value);
	free(p->ranges);
	for (int i = 0; p->float_names && i < p->plan.nfloat; i++)
		free(p->float_names[i]);
	free(p->float_names);
	free(p->json);
	memset(p, 0, sizeof *p);
}
