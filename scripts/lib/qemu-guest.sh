# QEMU command lines for the guest image. Source it after common.sh.

# The host's TSC frequency in kHz (testkit's host-tsc-khz, built on first use).
host_tsc_khz() {
  if [ -z "${NETVM_HOST_TSC_KHZ:-}" ]; then
    NETVM_HOST_TSC_KHZ=$(cd "$(repo_root)" && cargo run -q --release -p testkit --bin host-tsc-khz) \
      || die "cannot measure the host TSC frequency"
  fi
  printf '%s\n' "$NETVM_HOST_TSC_KHZ"
}

# qemu_microvm_cmd IMAGE_DIR ROOTFS [extra qemu args...]: prints nothing, sets
# the array QEMU_CMD. ACPI stays on (microvm's default): the kernel finds the
# virtio-mmio devices in the DSDT, and poweroff reaches QEMU through the ACPI
# Generic Event Device. Such a machine has no PIT or PM timer to calibrate the
# TSC against, so the kernel is told the TSC frequency: under TCG the guest
# reads the host's TSC, which is also why it is reliable (the kernel's
# watchdog would otherwise compare it with jiffies that lag under load).
qemu_microvm_cmd() {
  local dir=$1 rootfs=$2 khz; shift 2
  khz=$(host_tsc_khz)
  QEMU_CMD=(qemu-system-x86_64 -M microvm -m 256M -smp 1 -nodefaults -no-user-config
    -display none -serial stdio -no-reboot
    -kernel "$dir/bzImage" -append "console=ttyS0 root=/dev/vda rw tsc_early_khz=$khz tsc=reliable"
    -drive "id=root,if=none,format=raw,file=$rootfs" -device virtio-blk-device,drive=root
    "$@")
}

# seconds_until_ready: runs QEMU_CMD, returns (prints) the seconds from start
# to the guest's ready line, then stops QEMU. Fails after 300 s.
seconds_until_ready() {
  local start end line found=0
  start=$(date +%s.%N)
  coproc GUEST { exec "${QEMU_CMD[@]}" </dev/null 2>&1; }
  local pid=$GUEST_PID
  while IFS= read -r -t 300 line <&"${GUEST[0]}"; do
    case "$line" in *"netvm-guest: ready"*) found=1; break ;; esac
  done
  end=$(date +%s.%N)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$found" = 1 ] || die "the guest never printed its ready line"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}
