// With debug=eret-window on the command line, an interrupt forced into
// the window between the write of ELR_EL1 and the eret
// (arch/eret_window.rs). Off, three instructions: load, test, branch.
.macro MAYBE_PROBE_ERET_WINDOW
    adrp    x9, ERET_WINDOW_PROBE
    ldrb    w9, [x9, :lo12:ERET_WINDOW_PROBE]
    cbz     w9, 1f
    bl      eret_window_probe
1:
.endm

// One vector entry: make room for a TrapFrame, save x0 and x1, and go to
// the common code with the entry's number in x0.
//
// First, though, the stack is checked: a kernel thread's stack lies in the
// stack window, above a guard that is never mapped (mm::stacks). If the new
// stack pointer is in the window with its guard bit clear, the stack has
// overflowed: storing the frame would fault again, for ever, so the entry
// goes to kernel_stack_overflow instead. x0 is kept in TPIDR_EL1 (which
// nothing else uses) while it is borrowed for the test.
.macro VECTOR_ENTRY number
    .balign 0x80
    sub     sp, sp, #{frame_size}
    msr     tpidr_el1, x0
    mov     x0, sp
    mvn     x0, x0
    lsr     x0, x0, #30
    cmp     x0, #{window_complement}
    b.ne    1f
    mov     x0, sp
    tbz     x0, #{guard_bit}, kernel_stack_overflow
1:  mrs     x0, tpidr_el1
    stp     x0, x1, [sp, #0]
    mov     x0, #\number
    b       exception_common
.endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global exception_vectors
exception_vectors:
    VECTOR_ENTRY 0
    VECTOR_ENTRY 1
    VECTOR_ENTRY 2
    VECTOR_ENTRY 3
    VECTOR_ENTRY 4
    VECTOR_ENTRY 5
    VECTOR_ENTRY 6
    VECTOR_ENTRY 7
    VECTOR_ENTRY 8
    VECTOR_ENTRY 9
    VECTOR_ENTRY 10
    VECTOR_ENTRY 11
    VECTOR_ENTRY 12
    VECTOR_ENTRY 13
    VECTOR_ENTRY 14
    VECTOR_ENTRY 15

// The stack pointer is in a guard. Move to the overflow stack and report;
// the machine stops there.
kernel_stack_overflow:
    mov     x0, sp
    adrp    x1, {overflow_stack}
    add     x1, x1, :lo12:{overflow_stack}
    add     x1, x1, #{overflow_stack_size}
    mov     sp, x1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    mrs     x3, esr_el1
    bl      report_kernel_stack_overflow    // (sp, elr, far, esr), never returns

exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x1, sp_el0
    stp     x30, x1, [sp, #240]
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #256]
    mov     x1, sp
    bl      handle_exception        // (vector number, &mut TrapFrame)

    // Masked from here to the eret (they are, unless a handler forgot): an
    // IRQ taken after ELR_EL1 and SPSR_EL1 are written back would
    // overwrite them. The eret restores the interrupted code's own mask.
    msr     daifset, #0xf
    ldp     x1, x2, [sp, #256]
    msr     elr_el1, x1
    MAYBE_PROBE_ERET_WINDOW
    msr     spsr_el1, x2
    ldp     x30, x1, [sp, #240]
    msr     sp_el0, x1
    ldp     x28, x29, [sp, #224]
    ldp     x26, x27, [sp, #208]
    ldp     x24, x25, [sp, #192]
    ldp     x22, x23, [sp, #176]
    ldp     x20, x21, [sp, #160]
    ldp     x18, x19, [sp, #144]
    ldp     x16, x17, [sp, #128]
    ldp     x14, x15, [sp, #112]
    ldp     x12, x13, [sp, #96]
    ldp     x10, x11, [sp, #80]
    ldp     x8, x9, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #{frame_size}
    eret

// The probe, called from a return path: every register but x9 and x30
// kept (the paths load both afresh), interrupts left as they are.
    .global eret_window_probe
eret_window_probe:
    sub     sp, sp, #160
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x10, [sp, #64]
    stp     x11, x12, [sp, #80]
    stp     x13, x14, [sp, #96]
    stp     x15, x16, [sp, #112]
    stp     x17, x18, [sp, #128]
    str     x30, [sp, #144]
    bl      probe_eret_window
    ldr     x30, [sp, #144]
    ldp     x17, x18, [sp, #128]
    ldp     x15, x16, [sp, #112]
    ldp     x13, x14, [sp, #96]
    ldp     x11, x12, [sp, #80]
    ldp     x8, x10, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #160
    ret
