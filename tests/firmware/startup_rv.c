/* Bare-metal start for qemu-system-riscv32's virt board (-bios none, machine
 * mode): the entry at the base of DRAM sets the stack and the trap vector,
 * turns the FPU on when the build has one, then fw_start copies .data,
 * zeroes .bss, calls main and exits through semihosting; a trap names its
 * cause and pc.  No libc: the firmware is this, fw.c and the kiln object
 * (and libgcc's soft-float helpers without the F extension). */
#include <stdint.h>

#include "fw.h"

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[];

int main(void);

__asm(".section .vectors, \"ax\"\n"
      ".globl fw_reset\n"
      "fw_reset:\n"
      "\tla sp, __stack_top\n"
      "\tla t0, fw_trap\n"
      "\tcsrw mtvec, t0\n"
#if defined(__riscv_flen)
      "\tli t0, 0x2000\n"  /* mstatus.FS = initial */
      "\tcsrs mstatus, t0\n"
      "\tfscsr zero\n"
#endif
      "\tj fw_start\n"
      "\t.balign 4\n"
      "fw_trap:\n"
      "\tcsrr a0, mcause\n"
      "\tcsrr a1, mepc\n"
      "\tcsrr a2, mtval\n"
      "\tla sp, __stack_top\n"
      "\tj fw_trap_report\n"
      ".text\n");

void fw_start(void)
{
	for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;)
		*d++ = *s++;
	for (uint32_t *d = __bss_start; d < __bss_end;)
		*d++ = 0;
	fw_exit(main());
}

void fw_trap_report(uint32_t cause, uint32_t pc, uint32_t tval)
{
	fw_puts("FAULT mcause ");
	fw_putu(cause);
	fw_puts(" pc 0x");
	fw_puthex(pc);
	fw_puts(" mtval 0x");
	fw_puthex(tval);
	fw_puts("\n");
	fw_exit(99);
}
