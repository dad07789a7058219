/* The firmware's few services: semihosting output and exit (qemu's
 * -semihosting), hex/decimal printing, and an instruction clock (SysTick
 * on the core clock, run under qemu -icount: see fw.c). */
#ifndef FW_H
#define FW_H

#include <stdint.h>

void fw_puts(const char *s);
void fw_putu(uint32_t v);
void fw_puthex(uint32_t v);
void fw_flush(void);
__attribute__((noreturn)) void fw_exit(int code);

void fw_clock_start(void);
uint32_t fw_clock(void);  /* ticks since fw_clock_start, counting up (wraps at 2^32) */
void fw_systick(void);    /* ARM: the SysTick exception (the clock's high bits) */

#endif
