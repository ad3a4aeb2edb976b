// DWARF call-frame information (the .eh_frame CIEs and FDEs) reduced to what an x86-64 backtrace
// needs: where the caller's frame starts (the CFA), where the return address is and where the caller's
// RBP is. The interpreter runs a function's CFA program up to one PC and yields a FrameRule; the
// unwinder caches that rule per PC, so the parse runs once per distinct PC.
//
// Covered: CIE augmentations z, R, P, L, S (signal frame), every DW_CFA_* opcode GCC and Clang emit for
// x86-64 (advance_loc*, set_loc, def_cfa*, offset*, val_offset*, restore*, undefined, same_value,
// register, remember/restore_state, expression, val_expression, GNU_args_size,
// GNU_negative_offset_extended). A CFA expression that comes to RSP + constant once RIP is known (the
// PLT stubs' "rsp + 8 + ((rip & 15) >= 11 ? 8 : 0)") is evaluated with RIP = the looked-up PC, which is
// right because a PLT stub only ever appears as an interrupted frame (it makes no calls). A frame whose
// CFA is otherwise neither RSP+N nor RBP+N (realigned stacks: *(RBP-8)), or whose return address or RBP
// is not at CFA+N, is kUnsupported: the unwind stops there. Signal frames ('S' CIEs: glibc's __restore_rt)
// are kSignal: the unwinder reads the kernel's ucontext instead of evaluating their expressions.
//
// Everything is read through DwarfReader bounded by the module's mapped extent. No allocation, no
// global state: callable from any thread at once.
#pragma once

#include <cstdint>

namespace memtrace::preload {

enum class FrameKind : uint8_t {
  kNone = 0,         // no rule (no FDE covers the PC, or the FDE is malformed)
  kCfaRsp = 1,       // CFA = RSP + cfa_offset
  kCfaRbp = 2,       // CFA = RBP + cfa_offset
  kSignal = 3,       // a signal trampoline: the interrupted context is the ucontext at RSP
  kOutermost = 4,    // return address undefined: the first frame of the thread (_start, clone)
  kUnsupported = 5,  // CFI this unwinder does not follow
};

struct FrameRule {
  FrameKind kind = FrameKind::kNone;
  int8_t ra_slot = 0;   // kCfaRsp/kCfaRbp: the return address is at CFA + 8 * ra_slot
  int8_t rbp_slot = 0;  // 0: RBP unchanged in the caller; else saved at CFA + 8 * rbp_slot
  int32_t cfa_offset = 0;

  bool operator==(const FrameRule&) const = default;
};

// A FrameRule in one 64-bit word for the lock-free cache. Bit layout (LSB first):
//   0-7   kind (FrameKind)
//   8-15  ra_slot (int8)
//   16-23 rbp_slot (int8)
//   24-31 1 (a marker that makes every packed rule non-zero: zero means an empty cache slot)
//   32-63 cfa_offset (int32)
inline uint64_t PackRule(const FrameRule& rule) {
  return static_cast<uint64_t>(rule.kind) | static_cast<uint64_t>(static_cast<uint8_t>(rule.ra_slot)) << 8 |
         static_cast<uint64_t>(static_cast<uint8_t>(rule.rbp_slot)) << 16 | uint64_t{1} << 24 |
         static_cast<uint64_t>(static_cast<uint32_t>(rule.cfa_offset)) << 32;
}
inline FrameRule UnpackRule(uint64_t packed) {
  FrameRule rule;
  rule.kind = static_cast<FrameKind>(packed & 0xff);
  rule.ra_slot = static_cast<int8_t>(packed >> 8);
  rule.rbp_slot = static_cast<int8_t>(packed >> 16);
  rule.cfa_offset = static_cast<int32_t>(packed >> 32);
  return rule;
}

// A parsed FDE with its CIE: the facts the interpreter needs.
struct FdeView {
  uint64_t pc_begin = 0;
  uint64_t pc_end = 0;
  const uint8_t* cie_program = nullptr;  // the CIE's initial instructions
  const uint8_t* cie_program_end = nullptr;
  const uint8_t* program = nullptr;  // the FDE's instructions
  const uint8_t* program_end = nullptr;
  uint64_t code_align = 1;
  int64_t data_align = -8;
  uint64_t ra_register = 16;
  uint8_t fde_encoding = 0;  // DW_EH_PE_* of addresses in the FDE (DW_CFA_set_loc)
  bool signal_frame = false;
};

// Parses the FDE at `fde` (its length field). `limit` bounds every read (the end of the module's
// mapped extent). False if the entry is malformed, a CIE, or its CIE is unusable.
bool ParseFde(const uint8_t* fde, const uint8_t* limit, FdeView* view);

// Runs the CIE's and FDE's programs up to `pc` (which must lie in [pc_begin, pc_end)) and reduces the
// row to a FrameRule.
FrameRule ComputeFrameRule(const FdeView& fde, uint64_t pc, const uint8_t* limit);

}  // namespace memtrace::preload
