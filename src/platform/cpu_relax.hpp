// A hint to the CPU inside a spin-wait loop (x86 `pause`, Arm `yield`): it slows the loop down
// a little, saves power, and lets a sibling hyper-thread run. No-op elsewhere.
#pragma once

namespace plexus::platform {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace plexus::platform
