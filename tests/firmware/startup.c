/* Bare-metal start for qemu's MPS2/MPS3 Cortex-M boards (M0 to M55): the
 * vector table, reset (FPU on when the build has one, .data copied, .bss
 * zeroed, main called, exit through semihosting) and a fault handler that
 * names the fault and the faulting pc.  No libc: the firmware is this,
 * fw.c and the kiln object (and libgcc's soft-float helpers on cores
 * without an FPU).  Thumb-1 only, so one file serves ARMv6-M too. */
#include <stdint.h>

#include "fw.h"

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[], __stack_top[];

int main(void);

void fw_reset(void)
{
#if defined(__ARM_FP)
	/* CPACR: full access to CP10/CP11 (the FPU) before any float code. */
	*(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
	__asm volatile("dsb\n\tisb" ::: "memory");
#endif
	for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;)
		*d++ = *s++;
	for (uint32_t *d = __bss_start; d < __bss_end;)
		*d++ = 0;
	fw_exit(main());
}

/* Called from the fault entry with the stacked frame (r0-r3, r12, lr, pc, xpsr). */
void fw_fault_report(const uint32_t *frame, uint32_t exc)
{
	fw_puts("FAULT exception ");
	fw_putu(exc);
	fw_puts(" pc 0x");
	fw_puthex(frame[6]);
	fw_puts(" lr 0x");
	fw_puthex(frame[5]);
#if !defined(__ARM_ARCH_6M__)  /* ARMv6-M has no fault status registers */
	fw_puts(" cfsr 0x");
	fw_puthex(*(volatile uint32_t *)0xE000ED28);
	fw_puts(" bfar 0x");
	fw_puthex(*(volatile uint32_t *)0xE000ED38);
#endif
	fw_puts("\n");
	fw_exit(99);
}

__attribute__((naked)) static void fw_fault(void)
{
	__asm volatile("movs r0, #4\n\t"
		       "mov r1, lr\n\t"
		       "tst r0, r1\n\t"
		       "beq 1f\n\t"
		       "mrs r0, psp\n\t"
		       "b 2f\n"
		       "1:\tmrs r0, msp\n"
		       "2:\tmrs r1, ipsr\n\t"
		       "ldr r2, =fw_fault_report\n\t"
		       "bx r2");
}

typedef void (*Vector)(void);

__attribute__((section(".vectors"), used)) static const Vector vectors[16] = {
	(Vector)(uintptr_t)__stack_top, fw_reset,
	fw_fault, fw_fault, fw_fault, fw_fault, fw_fault,  /* NMI, HardFault, MemManage, BusFault, UsageFault */
	0, 0, 0, 0, fw_fault, fw_fault, 0, fw_fault, fw_systick,  /* SVC, DebugMon, PendSV, SysTick */
};
