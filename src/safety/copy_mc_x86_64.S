/*
 * Machine-check-safe copies for x86-64, after the kernel's copy_mc_enhanced_fast_string and
 * copy_mc_fragile (arch/x86/lib/copy_mc_64.S).
 *
 *   size_t tiermem_copy_mc_movsb(void *dst, const void *src, size_t n);
 *   size_t tiermem_copy_mc_words(void *dst, const void *src, size_t n);
 *
 * Both return the number of bytes not copied. Every instruction that touches the caller's
 * memory is listed in the section tiermem_mc_extable as (faulting address, fix-up address),
 * as are the inline copies of copy_mc.hpp (the linker gathers every object's entries); the
 * SIGBUS handler (sigbus.cpp) moves RIP to the fix-up and returns, so these routines never
 * call anything and need no stack frame.
 *
 * Invariant of the word loop: %rsi/%rdi point at the first byte of the block being copied and
 * %rcx counts the bytes from there to the end. A fault anywhere in a block resumes at the
 * byte loop with that state: it copies the block again byte by byte (the source is
 * unchanged, the buffers do not overlap) and its own fault at the exact bad byte returns
 * %rcx. rep movsb keeps the same invariant in hardware: on a fault %rcx is the count left.
 */
#if defined(__x86_64__)

#define ENTRY(name)        \
  .globl name;             \
  .hidden name;            \
  .type name, @function;   \
  .p2align 5;              \
  name:

#if defined(__CET__)
#define LANDING endbr64
#else
#define LANDING
#endif

#define EXTABLE(fault, fixup)                   \
  .pushsection tiermem_mc_extable, "aw";        \
  .balign 8;                                    \
  .quad fault, fixup;                           \
  .popsection

  .text

ENTRY(tiermem_copy_mc_movsb)
  LANDING
  movq %rdx, %rcx
.Lmovsb:
  rep movsb
  xorl %eax, %eax
  ret
.Lmovsb_fixup:
  movq %rcx, %rax
  ret
  EXTABLE(.Lmovsb, .Lmovsb_fixup)
  .size tiermem_copy_mc_movsb, . - tiermem_copy_mc_movsb

ENTRY(tiermem_copy_mc_words)
  LANDING
  movq %rdx, %rcx
.Lblock32:
  cmpq $32, %rcx
  jb .Lblock8
.Lld0: movq 0(%rsi), %r8
.Lld1: movq 8(%rsi), %r9
.Lld2: movq 16(%rsi), %r10
.Lld3: movq 24(%rsi), %r11
.Lst0: movq %r8, 0(%rdi)
.Lst1: movq %r9, 8(%rdi)
.Lst2: movq %r10, 16(%rdi)
.Lst3: movq %r11, 24(%rdi)
  addq $32, %rsi
  addq $32, %rdi
  subq $32, %rcx
  jmp .Lblock32
.Lblock8:
  cmpq $8, %rcx
  jb .Lbytes
.Lld8: movq (%rsi), %r8
.Lst8: movq %r8, (%rdi)
  addq $8, %rsi
  addq $8, %rdi
  subq $8, %rcx
  jmp .Lblock8
.Lbytes:
  testq %rcx, %rcx
  jz .Ldone
.Lldb: movb (%rsi), %al
.Lstb: movb %al, (%rdi)
  incq %rsi
  incq %rdi
  decq %rcx
  jnz .Lldb
.Ldone:
  xorl %eax, %eax
  ret
.Lbyte_fixup:
  movq %rcx, %rax
  ret
  EXTABLE(.Lld0, .Lbytes)
  EXTABLE(.Lld1, .Lbytes)
  EXTABLE(.Lld2, .Lbytes)
  EXTABLE(.Lld3, .Lbytes)
  EXTABLE(.Lst0, .Lbytes)
  EXTABLE(.Lst1, .Lbytes)
  EXTABLE(.Lst2, .Lbytes)
  EXTABLE(.Lst3, .Lbytes)
  EXTABLE(.Lld8, .Lbytes)
  EXTABLE(.Lst8, .Lbytes)
  EXTABLE(.Lldb, .Lbyte_fixup)
  EXTABLE(.Lstb, .Lbyte_fixup)
  .size tiermem_copy_mc_words, . - tiermem_copy_mc_words

/*
 * AVX2: 128 bytes a step through four ymm registers, destination aligned to 32 bytes after
 * an unaligned head. Same invariant as the word loop; a fault anywhere resumes in the byte
 * loop (after vzeroupper), and the tail under 128 bytes is the word loop's.
 */
ENTRY(tiermem_copy_mc_avx2)
  LANDING
  movq %rdx, %rcx
  cmpq $128, %rcx
  jb .Lavx_tail
.Lvh_ld: vmovdqu (%rsi), %ymm0
.Lvh_st: vmovdqu %ymm0, (%rdi)
  movq %rdi, %rax
  negq %rax
  andq $31, %rax
  jnz 1f
  movq $32, %rax      /* already aligned: the head copied 32 bytes */
1:
  addq %rax, %rsi
  addq %rax, %rdi
  subq %rax, %rcx
.Lv128:
  cmpq $128, %rcx
  jb .Lavx_tail
.Lv_ld0: vmovdqu 0(%rsi), %ymm0
.Lv_ld1: vmovdqu 32(%rsi), %ymm1
.Lv_ld2: vmovdqu 64(%rsi), %ymm2
.Lv_ld3: vmovdqu 96(%rsi), %ymm3
.Lv_st0: vmovdqa %ymm0, 0(%rdi)
.Lv_st1: vmovdqa %ymm1, 32(%rdi)
.Lv_st2: vmovdqa %ymm2, 64(%rdi)
.Lv_st3: vmovdqa %ymm3, 96(%rdi)
  subq $-128, %rsi
  subq $-128, %rdi
  addq $-128, %rcx
  jmp .Lv128
.Lavx_tail:
  vzeroupper
  jmp .Lblock32
.Lavx_fault:
  vzeroupper
  jmp .Lbytes
  EXTABLE(.Lvh_ld, .Lavx_fault)
  EXTABLE(.Lvh_st, .Lavx_fault)
  EXTABLE(.Lv_ld0, .Lavx_fault)
  EXTABLE(.Lv_ld1, .Lavx_fault)
  EXTABLE(.Lv_ld2, .Lavx_fault)
  EXTABLE(.Lv_ld3, .Lavx_fault)
  EXTABLE(.Lv_st0, .Lavx_fault)
  EXTABLE(.Lv_st1, .Lavx_fault)
  EXTABLE(.Lv_st2, .Lavx_fault)
  EXTABLE(.Lv_st3, .Lavx_fault)
  .size tiermem_copy_mc_avx2, . - tiermem_copy_mc_avx2

#endif /* __x86_64__ */

  .section .note.GNU-stack, "", @progbits
