/* Reset for a bare-metal Cortex-M image: vector table, FPU on, .data copied, .bss zeroed, then
 * main(); exit() reports the status to the host over semihosting (newlib's librdimon). */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
extern int main(void);
extern void initialise_monitor_handles(void);
void edgec_reset(void);

static void edgec_fault(void) { exit(70); }

__attribute__((section(".vectors"), used)) static const void* const vectors[16] = {
    &__stack_top, (void*)edgec_reset, (void*)edgec_fault, (void*)edgec_fault, (void*)edgec_fault,
    (void*)edgec_fault, (void*)edgec_fault};

void edgec_reset(void) {
  uint32_t *src = &__data_load, *dst = &__data_start;
  volatile uint32_t* cpacr = (volatile uint32_t*)0xE000ED88u;
  *cpacr |= 0xFu << 20; /* CP10 and CP11: the FPU, before any float instruction runs */
  __asm__ volatile("dsb\n isb");
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  initialise_monitor_handles();
  exit(main());
}

/* TVM's LLVM output names ARM's unwinding personality; a bare-metal image never unwinds. */
void __aeabi_unwind_cpp_pr0(void) {}

/* newlib's exit() runs the fini array and then _fini, which only crt files would define. */
void _fini(void) {}
