use super::*;

fn enabled() -> LocalApic {
    let mut a = LocalApic::new(0);
    a.write(reg::SVR, SVR_ENABLED | 0xff, 0);
    a
}

#[test]
fn reset_state_is_masked_and_disabled() {
    let a = LocalApic::new(0);
    assert_eq!(a.read(reg::VERSION, 0) & 0xff, 0x14);
    assert_eq!(a.read(reg::SVR, 0), 0xff);
    for o in LVT_OFFSETS {
        assert_ne!(a.read(o, 0) & LVT_MASKED, 0, "LVT {o:#x} masked at reset");
    }
    let mut a = a;
    a.accept(0x40, false);
    assert_eq!(a.pending(), None, "a software-disabled APIC delivers nothing");
}

#[test]
fn priority_ordering_tpr_and_eoi() {
    let mut a = enabled();
    a.accept(0x31, false);
    a.accept(0x52, false);
    assert_eq!(a.acknowledge(), Some(0x52));
    assert_eq!(a.read(reg::ISR + 0x20, 0), 1 << (0x52 - 0x40));
    assert_eq!(a.ppr(), 0x50);
    // 0x31 is below the in-service class: held until the EOI.
    assert_eq!(a.pending(), None);
    a.accept(0x61, false);
    assert_eq!(a.acknowledge(), Some(0x61), "higher class nests");
    assert_eq!(a.write(reg::EOI, 0, 0), None);
    assert_eq!(a.write(reg::EOI, 0, 0), None);
    assert_eq!(a.ppr(), 0);
    // The task priority holds class 3 back.
    a.write(reg::TPR, 0x30, 0);
    assert_eq!(a.pending(), None);
    a.write(reg::TPR, 0x20, 0);
    assert_eq!(a.acknowledge(), Some(0x31));
}

#[test]
fn level_vectors_report_their_eoi() {
    let mut a = enabled();
    a.accept(0x41, true);
    assert_eq!(a.read(reg::TMR + 0x20, 0), 2);
    assert_eq!(a.acknowledge(), Some(0x41));
    assert_eq!(a.write(reg::EOI, 0, 0), Some(0x41));
}

#[test]
fn illegal_vectors_set_esr() {
    let mut a = enabled();
    a.accept(3, false);
    assert_eq!(a.pending(), None);
    a.write(reg::ESR, 0, 0);
    assert_eq!(a.read(reg::ESR, 0), ESR_RECEIVE_ILLEGAL_VECTOR);
    a.write(reg::ESR, 0, 0);
    assert_eq!(a.read(reg::ESR, 0), 0);
}

#[test]
fn one_shot_timer_counts_down_and_fires_once() {
    let mut a = enabled();
    a.write(reg::TIMER_DIVIDE, 0b0011, 0); // divide by 16
    a.write(reg::LVT_TIMER, 0xec, 0);
    a.write(reg::TIMER_INITIAL, 100, 1000);
    assert_eq!(a.read(reg::TIMER_CURRENT, 1000 + 16 * 10), 90);
    assert_eq!(a.next_deadline(), Some(1000 + 1600));
    a.poll_timer(2599);
    assert_eq!(a.pending(), None);
    a.poll_timer(2600);
    assert_eq!(a.acknowledge(), Some(0xec));
    assert_eq!(a.read(reg::TIMER_CURRENT, 5000), 0);
    assert_eq!(a.next_deadline(), None);
    a.write(reg::EOI, 0, 0);
    a.poll_timer(10_000);
    assert_eq!(a.pending(), None, "one-shot fires once");
}

#[test]
fn periodic_timer_reloads_and_divide_one() {
    let mut a = enabled();
    a.write(reg::TIMER_DIVIDE, 0b1011, 0); // divide by 1
    a.write(reg::LVT_TIMER, LVT_TIMER_PERIODIC | 0xef, 0);
    a.write(reg::TIMER_INITIAL, 50, 0);
    a.poll_timer(50);
    assert_eq!(a.acknowledge(), Some(0xef));
    a.write(reg::EOI, 0, 0);
    assert_eq!(a.next_deadline(), Some(100));
    assert_eq!(a.read(reg::TIMER_CURRENT, 60), 40);
    // Several periods late: one interrupt, next deadline on the grid.
    a.poll_timer(275);
    assert_eq!(a.acknowledge(), Some(0xef));
    assert_eq!(a.next_deadline(), Some(300));
}

#[test]
fn masked_timer_does_not_fire_and_zero_count_stops_it() {
    let mut a = enabled();
    a.write(reg::LVT_TIMER, LVT_MASKED | 0xec, 0);
    a.write(reg::TIMER_INITIAL, 10, 0);
    assert_eq!(a.next_deadline(), None);
    a.poll_timer(1000);
    assert_eq!(a.pending(), None);
    a.write(reg::LVT_TIMER, 0xec, 0);
    a.write(reg::TIMER_INITIAL, 10, 0);
    a.write(reg::TIMER_INITIAL, 0, 5);
    a.poll_timer(1000);
    assert_eq!(a.pending(), None, "writing 0 stops the timer");
}

#[test]
fn self_ipi_through_the_icr() {
    let mut a = enabled();
    a.write(reg::ICR_LOW, (1 << 18) | 0x50, 0);
    assert_eq!(a.acknowledge(), Some(0x50));
    // Physical destination: another APIC ID is not us.
    a.write(reg::ICR_HIGH, 3 << 24, 0);
    a.write(reg::ICR_LOW, 0x51, 0);
    assert_eq!(a.pending(), None);
    a.write(reg::ICR_HIGH, 0, 0);
    a.write(reg::ICR_LOW, 0x51, 0);
    a.write(reg::EOI, 0, 0);
    assert_eq!(a.acknowledge(), Some(0x51));
}

#[test]
fn software_disable_masks_lvt() {
    let mut a = enabled();
    a.write(reg::LVT_TIMER, 0xec, 0);
    assert_eq!(a.read(reg::LVT_TIMER, 0), 0xec);
    a.write(reg::SVR, 0xff, 0);
    assert_ne!(a.read(reg::LVT_TIMER, 0) & LVT_MASKED, 0);
}

#[test]
fn tsc_deadline_timer_fires_once_at_its_deadline() {
    let mut a = enabled();
    a.write_tsc_deadline(5000);
    assert_eq!(a.tsc_deadline(), 0, "writes outside TSC-deadline mode are ignored");
    a.write(reg::LVT_TIMER, LVT_TIMER_TSC_DEADLINE | 0xec, 0);
    assert_eq!(a.read(reg::LVT_TIMER, 0), LVT_TIMER_TSC_DEADLINE | 0xec);
    assert_eq!(a.next_deadline(), None, "disarmed until the MSR is written");
    a.write_tsc_deadline(5000);
    assert_eq!(a.tsc_deadline(), 5000);
    assert_eq!(a.next_deadline(), Some(5000));
    // The initial count is ignored and the current count reads 0.
    a.write(reg::TIMER_INITIAL, 10, 0);
    assert_eq!(a.read(reg::TIMER_CURRENT, 1), 0);
    assert_eq!(a.next_deadline(), Some(5000));
    a.poll_timer(4999);
    assert_eq!(a.pending(), None);
    a.poll_timer(5000);
    assert_eq!(a.acknowledge(), Some(0xec));
    assert_eq!(a.tsc_deadline(), 0, "expiry disarms");
    assert_eq!(a.next_deadline(), None);
    a.write(reg::EOI, 0, 0);
    a.poll_timer(9000);
    assert_eq!(a.pending(), None, "fires once");
    // A deadline already past fires at the next poll; 0 disarms.
    a.write_tsc_deadline(100);
    a.poll_timer(9001);
    assert_eq!(a.acknowledge(), Some(0xec));
    a.write(reg::EOI, 0, 0);
    a.write_tsc_deadline(20_000);
    a.write_tsc_deadline(0);
    assert_eq!(a.next_deadline(), None);
}

#[test]
fn leaving_tsc_deadline_mode_disarms_and_masking_holds_the_interrupt() {
    let mut a = enabled();
    a.write(reg::LVT_TIMER, LVT_TIMER_TSC_DEADLINE | 0xec, 0);
    a.write_tsc_deadline(5000);
    a.write(reg::LVT_TIMER, 0xec, 0); // one-shot
    assert_eq!(a.tsc_deadline(), 0);
    assert_eq!(a.next_deadline(), None);
    a.poll_timer(6000);
    assert_eq!(a.pending(), None);
    // A counting timer is disarmed by the switch into deadline mode.
    a.write(reg::TIMER_INITIAL, 100, 0);
    a.write(reg::LVT_TIMER, LVT_TIMER_TSC_DEADLINE | 0xec, 0);
    assert_eq!(a.next_deadline(), None);
    a.poll_timer(1000);
    assert_eq!(a.pending(), None);
    // Masked: the deadline passes without an interrupt.
    a.write(reg::LVT_TIMER, LVT_TIMER_TSC_DEADLINE | LVT_MASKED | 0xec, 0);
    a.write_tsc_deadline(2000);
    a.poll_timer(2000);
    assert_eq!(a.pending(), None);
}
