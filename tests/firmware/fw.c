/* The firmware's main: runs the kiln model linked into the image on the
 * inputs embedded in it (data.S, written by run_firmware.py), times each
 * run, and prints the outputs in hex over semihosting for the host to
 * compare with `kiln run`.  Build: -DMODEL=name -include kiln.h -include
 * name.h (the generated header).
 *
 * Counting instructions: qemu runs the image with -icount shift=0, so
 * its virtual clock advances exactly 1 ns per guest instruction executed.
 * ARM: SysTick, clocked from the core clock (25 MHz on the MPS2 boards),
 * then ticks once every 40 instructions, its exception counting the wraps
 * of its 24 bits.  RISC-V: the instret counter, one tick per instruction.
 * A calibration loop of a known number of instructions measures the ratio,
 * so the host turns ticks into instructions without trusting the board's
 * clock figure. */
#include <stddef.h>
#include <stdint.h>

#include "fw.h"

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define M(x) CAT(MODEL, x)

/* ---- semihosting --------------------------------------------------------------------- */

static int semihost(int op, const void *arg)
{
#if defined(__riscv)
	/* The RISC-V semihosting trap: these three uncompressed instructions
	 * in a row. */
	register int a0 __asm("a0") = op;
	register const void *a1 __asm("a1") = arg;
	__asm volatile(".option push\n\t.option norvc\n\t"
		       "slli zero, zero, 0x1f\n\tebreak\n\tsrai zero, zero, 7\n\t.option pop"
		       : "+r"(a0) : "r"(a1) : "memory");
	return a0;
#else
	register int r0 __asm("r0") = op;
	register const void *r1 __asm("r1") = arg;
	__asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
#endif
}

static char line[256];
static unsigned used;

void fw_flush(void)
{
	if (!used)
		return;
	line[used] = 0;
	semihost(0x04, line);  /* SYS_WRITE0 */
	used = 0;
}

static void put(char ch)
{
	if (used == sizeof line - 1)
		fw_flush();
	line[used++] = ch;
	if (ch == '\n')
		fw_flush();
}

void fw_puts(const char *s)
{
	while (*s)
		put(*s++);
}

void fw_putu(uint32_t v)
{
	char d[10];
	int n = 0;
	do
		d[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		put(d[--n]);
}

static void put_byte(uint8_t b)
{
	static const char hex[] = "0123456789abcdef";
	put(hex[b >> 4]);
	put(hex[b & 15]);
}

void fw_puthex(uint32_t v)
{
	for (int s = 24; s >= 0; s -= 8)
		put_byte((uint8_t)(v >> s));
}

void fw_exit(int code)
{
	fw_flush();
	/* SYS_EXIT_EXTENDED: ADP_Stopped_ApplicationExit with the code. */
	uint32_t block[2] = {0x20026, (uint32_t)code};
	semihost(0x20, block);
	for (;;)
		;
}

/* ---- the instruction clock --------------------------------------------------------- */

#if defined(__riscv)

static uint32_t clock0;

static uint32_t instret(void)
{
	uint32_t v;
	__asm volatile("csrr %0, instret" : "=r"(v));
	return v;
}

void fw_clock_start(void) { clock0 = instret(); }
uint32_t fw_clock(void) { return instret() - clock0; }
void fw_systick(void) {}

/* 2 * n instructions in the loop (n >= 1), plus a constant. */
static uint32_t calibrate(uint32_t n)
{
	uint32_t t0 = fw_clock();
	__asm volatile("mv t0, %0\n"
		       "1:\taddi t0, t0, -1\n\t"
		       "bnez t0, 1b" ::"r"(n) : "t0");
	return fw_clock() - t0;
}

#else

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

static uint32_t clock0;
static volatile uint32_t wraps;

void fw_systick(void) { wraps++; }

/* Ticks since reset: the wraps above SysTick's 24 bits (counting down). */
static uint32_t ticks(void)
{
	uint32_t w, v;
	do {
		w = wraps;
		v = SYST_CVR;
	} while (w != wraps);
	return (w << 24) + (0xFFFFFFu - v);
}

void fw_clock_start(void)
{
	SYST_RVR = 0xFFFFFF;
	SYST_CVR = 0;
	SYST_CSR = 7;  /* enabled, core clock, the exception on each wrap */
	while (SYST_CVR == 0)  /* (the first reload, from the 0 written, is no wrap) */
		;
	clock0 = ticks();
}

uint32_t fw_clock(void) { return ticks() - clock0; }

/* 2 * n instructions in the loop (n >= 1), plus a constant. */
static uint32_t calibrate(uint32_t n)
{
	uint32_t t0 = fw_clock();
	__asm volatile(".syntax unified\n\tmov r0, %0\n\t"
		       "1: subs r0, r0, #1\n\t"
		       "bne 1b" ::"r"(n) : "r0", "cc");
	return fw_clock() - t0;
}

#endif

/* ---- main ------------------------------------------------------------------------ */

extern const void *const fw_inputs[];  /* data.S */
extern const uint32_t fw_out_align[];  /* data.S: each output's MODEL_OUTPUT_i_ALIGN */
extern uint8_t __arena_start[], __arena_end[];

static uint8_t *arena;

static void *take(uint64_t bytes, uint64_t align)
{
	uintptr_t p = ((uintptr_t)arena + (uintptr_t)align - 1) & ~((uintptr_t)align - 1);
	if (bytes > (uintptr_t)__arena_end - p) {
		fw_puts("FAIL arena too small\n");
		fw_exit(2);
	}
	arena = (uint8_t *)(p + (uintptr_t)bytes);
	return (void *)p;
}

int main(void)
{
	const kiln_model_info *info = &M(_info);
	void *outs[M(_NUM_OUTPUTS)], *again[M(_NUM_OUTPUTS)];
	arena = __arena_start;
	for (int i = 0; i < info->n_outputs; i++) {
		/* at exactly the header's alignment (fw_out_align, data.S), no more */
		uint32_t a = fw_out_align[i] % 16;
		outs[i] = (uint8_t *)take(info->outputs[i].bytes + a, 16) + a;
		again[i] = (uint8_t *)take(info->outputs[i].bytes + a, 16) + a;
		for (uint64_t k = 0; k < info->outputs[i].bytes; k++)  /* outputs need no zeroing */
			((uint8_t *)outs[i])[k] = 0xA5, ((uint8_t *)again[i])[k] = 0x5A;
	}
	void *ws = take(M(_WORKSPACE_SIZE) ? M(_WORKSPACE_SIZE) : 1, M(_WORKSPACE_ALIGN));

	fw_puts("KILN-FW model ");
	fw_puts(info->name);
	fw_puts(" workspace ");
	fw_putu((uint32_t)M(_WORKSPACE_SIZE));
	fw_puts("\n");
	fw_clock_start();
	uint32_t n = 1000000, loop = calibrate(2 * n), half = calibrate(n);  /* 2n instructions apart */
	fw_puts("CALIB insns ");
	fw_putu(2 * n);
	fw_puts(" ticks ");
	fw_putu(loop - half);
	fw_puts("\n");

	/* Two runs in one workspace: the same outputs and the same count.  The
	 * free stack is painted first; the deepest word the run changed gives
	 * the stack it used, for the host to hold against MODEL_STACK_SIZE. */
	uint32_t *bottom = (uint32_t *)__arena_end, *sp;
#if defined(__riscv)
	__asm volatile("mv %0, sp" : "=r"(sp));
#else
	__asm volatile("mov %0, sp" : "=r"(sp));
#endif
	for (int r = 0; r < 2; r++) {
		for (uint32_t *p = bottom; p < sp - 16; p++)
			*p = 0x5EA5C0DEu;
		uint32_t t0 = fw_clock();
		int rc = M(_run)(fw_inputs, r ? (void *const *)again : (void *const *)outs, ws);
		uint32_t t = fw_clock() - t0;  /* (reading the clock: a few instructions) */
		uint32_t *low = bottom;
		while (low < sp - 16 && *low == 0x5EA5C0DEu)
			low++;
		fw_puts("STACK used ");
		fw_putu((uint32_t)((uintptr_t)sp - (uintptr_t)low));
		fw_puts("\n");
		fw_puts("RUN rc ");
		fw_putu((uint32_t)rc);
		fw_puts(" ticks ");
		fw_putu(t);
		fw_puts("\n");
		if (rc)
			return 1;
	}
	for (int i = 0; i < info->n_outputs; i++) {
		const uint8_t *o = outs[i], *o2 = again[i];
		for (uint64_t k = 0; k < info->outputs[i].bytes; k++)
			if (o[k] != o2[k]) {
				fw_puts("FAIL the second run's output differs\n");
				return 1;
			}
		fw_puts("OUT ");
		fw_putu((uint32_t)i);
		fw_puts(" ");
		fw_putu((uint32_t)info->outputs[i].bytes);
		fw_puts("\n");
		for (uint64_t k = 0; k < info->outputs[i].bytes; k++) {
			put_byte(o[k]);
			if (k % 64 == 63 || k + 1 == info->outputs[i].bytes)
				put('\n');
		}
	}
	fw_puts("END\n");
	return 0;
}
