//! A check on the kernel's own assembly: every way back to a lower
//! exception level masks interrupts before it writes the return state.
//!
//! `eret` resumes at `ELR_EL1` with the state in `SPSR_EL1`. An IRQ taken
//! after either is written, and before the `eret`, overwrites both with its
//! own return state: a process would then start "executing" kernel code at
//! EL0, or the machine hang. So in the stretch of code that leads to each
//! `eret` (back to the nearest label or call), `msr daifset` must come
//! before any `msr elr_el1` or `msr spsr_el1`. Host-tested on the real
//! files (`arch/enter_user.s`, `arch/exceptions.s`).
//!
//! Two things do not end a stretch: a numbered local label (`1:`, the
//! target of a branch within it) and the call to `eret_window_probe`,
//! which keeps the interrupt mask as it finds it. That probe is the same
//! check made at run time (`arch/eret_window.rs`).

/// The lines (counting from 1) of each `eret` in `assembly` whose stretch
/// writes `ELR_EL1` or `SPSR_EL1` with interrupts not masked first.
pub fn unmasked_erets(assembly: &str) -> Vec<usize> {
    let mut found = Vec::new();
    // The instructions since the last label or call.
    let mut stretch: Vec<&str> = Vec::new();
    for (index, line) in assembly.lines().enumerate() {
        let mut code = line.split("//").next().unwrap_or("").trim();
        if let Some((label, rest)) = code.split_once(':')
            && !label.is_empty()
            && label.bytes().all(|byte| byte.is_ascii_digit())
        {
            code = rest.trim(); // a local label: the stretch goes on
        }
        if code.is_empty() {
            continue;
        }
        let call = code
            .strip_prefix("bl")
            .filter(|rest| rest.starts_with([' ', '\t']));
        let ends_stretch = match call {
            Some(target) => target.trim() != "eret_window_probe",
            None => code.ends_with(':'),
        };
        if ends_stretch {
            stretch.clear();
            continue;
        }
        if code == "eret" {
            let masked = stretch
                .iter()
                .position(|line| line.starts_with("msr") && line.contains("daifset"));
            let written = stretch.iter().position(|line| {
                line.starts_with("msr") && (line.contains("elr_el1") || line.contains("spsr_el1"))
            });
            let safe = match (masked, written) {
                (Some(masked), Some(written)) => masked < written,
                (_, None) => true,
                (None, Some(_)) => false,
            };
            if !safe {
                found.push(index + 1);
            }
            stretch.clear();
            continue;
        }
        stretch.push(code);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::unmasked_erets;

    #[test]
    fn every_eret_of_the_kernel_masks_interrupts_first() {
        for (name, assembly) in [
            ("enter_user.s", include_str!("arch/enter_user.s")),
            ("exceptions.s", include_str!("arch/exceptions.s")),
        ] {
            assert!(assembly.contains("eret"), "{name} has no eret");
            assert_eq!(unmasked_erets(assembly), Vec::<usize>::new(), "{name}");
        }
    }

    #[test]
    fn a_window_before_eret_is_found() {
        // enter_user as it was: the return state written with IRQs on.
        let old =
            "enter_user:\n    mov sp, x3\n    msr elr_el1, x0\n    msr spsr_el1, xzr\n    eret\n";
        assert_eq!(unmasked_erets(old), [5]);
        // Masked, but too late.
        let late = "a:\n    msr elr_el1, x0\n    msr daifset, #0xf\n    eret\n";
        assert_eq!(unmasked_erets(late), [4]);
        let right = "a:\n    msr daifset, #0xf\n    msr elr_el1, x0\n    eret\n";
        assert!(unmasked_erets(right).is_empty());
        // A local label or the probe's call does not hide an open window;
        // any other call or label starts a new stretch.
        let probed = "a:\n    msr elr_el1, x0\n    cbz w9, 1f\n    bl eret_window_probe\n1:  msr spsr_el1, xzr\n    eret\n";
        assert_eq!(unmasked_erets(probed), [6]);
        let masked_probed = "a:\n    msr daifset, #0xf\n    msr elr_el1, x0\n    bl eret_window_probe\n1:\n    eret\n";
        assert!(unmasked_erets(masked_probed).is_empty());
        let after_call =
            "a:\n    msr daifset, #0xf\n    bl something\n    msr elr_el1, x0\n    eret\n";
        assert_eq!(unmasked_erets(after_call), [5]);
    }
}
