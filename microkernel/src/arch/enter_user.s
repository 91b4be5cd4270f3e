    .section .text
    .global enter_user
// enter_user(entry: x0, user_stack: x1, argument: x2, kernel_stack_top: x3)
// Starts EL0 at `entry` with x0 = `argument`, sp = `user_stack`, every other
// register zero (nothing of the kernel's leaks), IRQs unmasked. Exceptions
// from EL0 then arrive on `kernel_stack_top`.
//
// Interrupts are masked first: an IRQ taken after ELR_EL1 or SPSR_EL1 is
// written would overwrite them with its own return state, and the eret
// would then "return" to the kernel's code at EL0 (or hang). The eret
// itself unmasks them, from SPSR_EL1's DAIF bits (all clear).
enter_user:
    msr     daifset, #0xf
    mov     sp, x3
    msr     elr_el1, x0
    // debug=eret-window (arch/eret_window.rs): an interrupt forced in here.
    adrp    x9, ERET_WINDOW_PROBE
    ldrb    w9, [x9, :lo12:ERET_WINDOW_PROBE]
    cbz     w9, 1f
    bl      eret_window_probe
1:  msr     sp_el0, x1
    msr     spsr_el1, xzr           // EL0t, DAIF all clear
    mov     x0, x2
    mov     x1, xzr
    mov     x2, xzr
    mov     x3, xzr
    mov     x4, xzr
    mov     x5, xzr
    mov     x6, xzr
    mov     x7, xzr
    mov     x8, xzr
    mov     x9, xzr
    mov     x10, xzr
    mov     x11, xzr
    mov     x12, xzr
    mov     x13, xzr
    mov     x14, xzr
    mov     x15, xzr
    mov     x16, xzr
    mov     x17, xzr
    mov     x18, xzr
    mov     x19, xzr
    mov     x20, xzr
    mov     x21, xzr
    mov     x22, xzr
    mov     x23, xzr
    mov     x24, xzr
    mov     x25, xzr
    mov     x26, xzr
    mov     x27, xzr
    mov     x28, xzr
    mov     x29, xzr
    mov     x30, xzr
    eret
