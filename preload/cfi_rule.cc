#include "preload/cfi_rule.h"

#include "preload/dwarf_reader.h"

namespace memtrace::preload {

namespace {

// DWARF register numbers of the x86-64 psABI (figure 3.36).
constexpr uint64_t kRegRbp = 6;
constexpr uint64_t kRegRsp = 7;

enum class RuleKind : uint8_t { kSame, kOffset, kUndefined, kOther };

struct RegisterRule {
  RuleKind kind = RuleKind::kSame;
  int64_t offset = 0;  // kOffset: saved at CFA + offset
};

struct Row {
  uint64_t cfa_register = kRegRsp;
  int64_t cfa_offset = 8;
  bool cfa_expression = false;
  const uint8_t* expression = nullptr;  // DW_CFA_def_cfa_expression's block
  uint64_t expression_length = 0;
  RegisterRule ra;
  RegisterRule rbp;
};

// Remembered rows (DW_CFA_remember_state): compilers nest them once or twice; deeper stacks are
// refused rather than allocated.
constexpr int kMaxRemembered = 8;

struct Interpreter {
  const FdeView& fde;
  const uint8_t* limit;
  Row initial;  // the row after the CIE's program (DW_CFA_restore's target)
  Row row;
  Row remembered[kMaxRemembered];
  int remembered_count = 0;
  bool failed = false;

  RegisterRule* RuleOf(uint64_t reg) {
    if (reg == fde.ra_register) return &row.ra;
    if (reg == kRegRbp) return &row.rbp;
    return nullptr;  // a register the backtrace does not need
  }
  void SetOffset(uint64_t reg, int64_t offset) {
    if (RegisterRule* rule = RuleOf(reg)) *rule = {RuleKind::kOffset, offset};
  }
  void Set(uint64_t reg, RuleKind kind) {
    if (RegisterRule* rule = RuleOf(reg)) *rule = {kind, 0};
  }
  void Restore(uint64_t reg) {
    if (reg == fde.ra_register) row.ra = initial.ra;
    if (reg == kRegRbp) row.rbp = initial.rbp;
  }

  // Runs [begin, end) while the location stays <= pc. Returns false when an advance passed pc (the
  // row for pc is complete) or on a malformed program.
  bool Run(const uint8_t* begin, const uint8_t* end, uint64_t pc, uint64_t* location) {
    DwarfReader in(begin, end < limit ? end : limit);
    while (in.remaining()) {
      uint8_t op = in.U8();
      uint64_t delta = 0;
      bool advance = false;
      switch (op >> 6) {
        case 1: delta = op & 0x3f, advance = true; break;  // advance_loc
        case 2: SetOffset(op & 0x3f, static_cast<int64_t>(in.Uleb128()) * fde.data_align); continue;
        case 3: Restore(op & 0x3f); continue;  // restore
        default: break;
      }
      if (!advance) {
        switch (op) {
          case 0x00: break;  // nop
          case 0x01: {       // set_loc
            uint64_t to = in.Pointer(fde.fde_encoding);
            if (to > pc) return false;
            *location = to;
            break;
          }
          case 0x02: delta = in.U8(), advance = true; break;
          case 0x03: delta = in.Fixed<uint16_t>(), advance = true; break;
          case 0x04: delta = in.Fixed<uint32_t>(), advance = true; break;
          case 0x05: {  // offset_extended
            uint64_t reg = in.Uleb128();
            SetOffset(reg, static_cast<int64_t>(in.Uleb128()) * fde.data_align);
            break;
          }
          case 0x06: Restore(in.Uleb128()); break;                              // restore_extended
          case 0x07: Set(in.Uleb128(), RuleKind::kUndefined); break;            // undefined
          case 0x08: Set(in.Uleb128(), RuleKind::kSame); break;                 // same_value
          case 0x09: in.Uleb128(), Set(in.Uleb128(), RuleKind::kOther); break;  // register
          case 0x0a:                                                            // remember_state
            if (remembered_count == kMaxRemembered) return Fail();
            remembered[remembered_count++] = row;
            break;
          case 0x0b: {  // restore_state: the whole row, CFA rule included, as libgcc and readelf do
            if (remembered_count == 0) return Fail();
            row = remembered[--remembered_count];
            break;
          }
          case 0x0c:  // def_cfa
            row.cfa_register = in.Uleb128();
            row.cfa_offset = static_cast<int64_t>(in.Uleb128());
            row.cfa_expression = false;
            break;
          case 0x0d:  // def_cfa_register
            row.cfa_register = in.Uleb128();
            row.cfa_expression = false;
            break;
          case 0x0e: row.cfa_offset = static_cast<int64_t>(in.Uleb128()); break;  // def_cfa_offset
          case 0x0f: {                                                            // def_cfa_expression
            row.expression_length = in.Uleb128();
            row.expression = in.position();
            in.Skip(row.expression_length);
            row.cfa_expression = true;
            break;
          }
          case 0x10: {  // expression
            uint64_t reg = in.Uleb128();
            in.Skip(in.Uleb128());
            Set(reg, RuleKind::kOther);
            break;
          }
          case 0x11: {  // offset_extended_sf
            uint64_t reg = in.Uleb128();
            SetOffset(reg, in.Sleb128() * fde.data_align);
            break;
          }
          case 0x12:  // def_cfa_sf
            row.cfa_register = in.Uleb128();
            row.cfa_offset = in.Sleb128() * fde.data_align;
            row.cfa_expression = false;
            break;
          case 0x13: row.cfa_offset = in.Sleb128() * fde.data_align; break;  // def_cfa_offset_sf
          case 0x14:                                                         // val_offset
          case 0x15: {                                                       // val_offset_sf
            uint64_t reg = in.Uleb128();
            if (op == 0x14)
              in.Uleb128();
            else
              in.Sleb128();
            Set(reg, RuleKind::kOther);
            break;
          }
          case 0x16: {  // val_expression
            uint64_t reg = in.Uleb128();
            in.Skip(in.Uleb128());
            Set(reg, RuleKind::kOther);
            break;
          }
          case 0x2e: in.Uleb128(); break;  // GNU_args_size
          case 0x2f: {                     // GNU_negative_offset_extended
            uint64_t reg = in.Uleb128();
            SetOffset(reg, -static_cast<int64_t>(in.Uleb128()) * fde.data_align);
            break;
          }
          default: return Fail();
        }
      }
      if (!in.ok()) return Fail();
      if (advance) {
        uint64_t next = *location + delta * fde.code_align;
        if (next > pc) return false;
        *location = next;
      }
    }
    return in.ok() || Fail();
  }

  bool Fail() {
    failed = true;
    return false;
  }
};

// Evaluates a CFA expression whose value is RSP + constant once the PC is known: the PLT's
// "rsp + 8 + ((rip & 15) >= 11 ? 8 : 0)" (GNU ld's lazy-binding stubs), with `pc` for RIP. Stack
// values are (rsp coefficient 0 or 1, constant); anything that would need another register, memory, or
// a non-linear use of RSP is refused. True and *offset set if the result is RSP + *offset.
bool EvaluateRspExpression(const uint8_t* begin, uint64_t length, uint64_t pc, const uint8_t* limit,
                           int64_t* offset) {
  struct Value {
    uint64_t rsp;  // 0 or 1
    uint64_t constant;
  };
  Value stack[8];
  int depth = 0;
  DwarfReader in(begin, begin + length <= limit ? begin + length : limit);
  while (in.remaining()) {
    uint8_t op = in.U8();
    if (op >= 0x30 && op <= 0x4f) {  // DW_OP_lit0..31
      if (depth == 8) return false;
      stack[depth++] = {0, static_cast<uint64_t>(op - 0x30)};
      continue;
    }
    if (op == 0x77 || op == 0x80) {  // DW_OP_breg7 (rsp), DW_OP_breg16 (rip)
      if (depth == 8) return false;
      int64_t add = in.Sleb128();
      stack[depth++] =
          op == 0x77 ? Value{1, static_cast<uint64_t>(add)} : Value{0, pc + static_cast<uint64_t>(add)};
      continue;
    }
    if (op == 0x23) {  // DW_OP_plus_uconst
      if (depth < 1) return false;
      stack[depth - 1].constant += in.Uleb128();
      continue;
    }
    if (depth < 2) return false;
    Value b = stack[--depth];
    Value& a = stack[depth - 1];
    if (op == 0x22) {  // DW_OP_plus
      if (a.rsp + b.rsp > 1) return false;
      a = {a.rsp + b.rsp, a.constant + b.constant};
      continue;
    }
    if (a.rsp || b.rsp) return false;  // the rest apply to constants only
    switch (op) {
      case 0x1a: a.constant &= b.constant; break;                                     // and
      case 0x21: a.constant |= b.constant; break;                                     // or
      case 0x1c: a.constant -= b.constant; break;                                     // minus
      case 0x24: a.constant = b.constant < 64 ? a.constant << b.constant : 0; break;  // shl
      case 0x2a:
        a.constant = static_cast<int64_t>(a.constant) >= static_cast<int64_t>(b.constant);
        break;  // ge
      case 0x2b:
        a.constant = static_cast<int64_t>(a.constant) > static_cast<int64_t>(b.constant);
        break;                                                  // gt
      case 0x29: a.constant = a.constant == b.constant; break;  // eq
      default: return false;
    }
  }
  if (!in.ok() || depth != 1 || stack[0].rsp != 1) return false;
  *offset = static_cast<int64_t>(stack[0].constant);
  return true;
}

FrameRule Reduce(Row row, uint64_t pc, const uint8_t* limit) {
  if (row.cfa_expression) {
    int64_t offset;
    if (EvaluateRspExpression(row.expression, row.expression_length, pc, limit, &offset)) {
      row.cfa_expression = false;
      row.cfa_register = kRegRsp;
      row.cfa_offset = offset;
    }
  }
  FrameRule rule;
  if (row.ra.kind == RuleKind::kUndefined) {
    rule.kind = FrameKind::kOutermost;
    return rule;
  }
  if (row.cfa_expression || (row.cfa_register != kRegRsp && row.cfa_register != kRegRbp) ||
      row.cfa_offset != static_cast<int32_t>(row.cfa_offset) || row.ra.kind != RuleKind::kOffset ||
      row.rbp.kind == RuleKind::kOther || row.rbp.kind == RuleKind::kUndefined) {
    rule.kind = FrameKind::kUnsupported;
    return rule;
  }
  auto slot = [](int64_t offset, int8_t* out) {
    if (offset % 8 || offset / 8 < -128 || offset / 8 > 127 || offset == 0) return false;
    *out = static_cast<int8_t>(offset / 8);
    return true;
  };
  if (!slot(row.ra.offset, &rule.ra_slot) ||
      (row.rbp.kind == RuleKind::kOffset && !slot(row.rbp.offset, &rule.rbp_slot))) {
    rule.kind = FrameKind::kUnsupported;
    return rule;
  }
  rule.kind = row.cfa_register == kRegRsp ? FrameKind::kCfaRsp : FrameKind::kCfaRbp;
  rule.cfa_offset = static_cast<int32_t>(row.cfa_offset);
  return rule;
}

}  // namespace

bool ParseFde(const uint8_t* fde, const uint8_t* limit, FdeView* view) {
  DwarfReader in(fde, limit);
  uint64_t length = in.Fixed<uint32_t>();
  if (length == 0 || length == 0xffffffff) return false;  // terminator, or 64-bit DWARF (not in .eh_frame)
  const uint8_t* id_field = in.position();
  const uint8_t* fde_end = id_field + length;
  if (length > in.remaining()) return false;
  uint32_t cie_pointer = in.Fixed<uint32_t>();
  if (cie_pointer == 0) return false;  // a CIE
  const uint8_t* cie = id_field - cie_pointer;
  if (cie < fde && cie + 4 > limit) return false;

  // The CIE.
  DwarfReader c(cie, limit);
  uint64_t cie_length = c.Fixed<uint32_t>();
  if (cie_length == 0 || cie_length == 0xffffffff || cie_length > c.remaining()) return false;
  const uint8_t* cie_end = c.position() + cie_length;
  if (c.Fixed<uint32_t>() != 0) return false;  // not a CIE
  uint8_t version = c.U8();
  if (version != 1 && version != 3) return false;
  const uint8_t* augmentation = c.position();
  while (c.ok() && c.U8() != 0) {
  }
  if (!c.ok()) return false;  // unterminated augmentation string
  view->code_align = c.Uleb128();
  view->data_align = c.Sleb128();
  view->ra_register = version == 1 ? c.U8() : c.Uleb128();
  view->fde_encoding = kPeAbsptr;
  view->signal_frame = false;
  bool has_augmentation_data = augmentation[0] == 'z';
  if (has_augmentation_data) {
    uint64_t data_length = c.Uleb128();
    const uint8_t* data_end = c.position() + data_length;
    if (data_end > cie_end) return false;
    // Letters with data come in the order of their data; after an unknown one the rest of the data
    // cannot be parsed, but 'S' (no data) still counts wherever it is.
    bool known = true;
    for (const uint8_t* a = augmentation + 1; *a && c.ok(); ++a) {
      if (*a == 'S') view->signal_frame = true;
      if (!known) continue;
      switch (*a) {
        case 'R': view->fde_encoding = c.U8(); break;
        case 'P': c.Pointer(c.U8()); break;
        case 'L': c.U8(); break;
        case 'S': break;
        default: known = false; break;
      }
    }
    c.Seek(data_end);
  } else if (augmentation[0] != 0) {
    return false;  // pre-'z' augmentations ("eh"): no longer produced
  }
  if (!c.ok() || c.position() > cie_end) return false;
  view->cie_program = c.position();
  view->cie_program_end = cie_end;

  // The FDE's own fields.
  view->pc_begin = in.Pointer(view->fde_encoding);
  view->pc_end = view->pc_begin + in.Pointer(view->fde_encoding & 0x0f);
  if (has_augmentation_data) in.Skip(in.Uleb128());
  if (!in.ok() || in.position() > fde_end) return false;
  view->program = in.position();
  view->program_end = fde_end;
  return true;
}

FrameRule ComputeFrameRule(const FdeView& fde, uint64_t pc, const uint8_t* limit) {
  FrameRule unsupported;
  unsupported.kind = FrameKind::kUnsupported;
  if (fde.signal_frame) {
    FrameRule signal;
    signal.kind = FrameKind::kSignal;
    return signal;
  }
  Interpreter interpreter{fde, limit, {}, {}, {}, 0, false};
  uint64_t location = fde.pc_begin;
  interpreter.Run(fde.cie_program, fde.cie_program_end, UINT64_MAX, &location);
  if (interpreter.failed) return unsupported;
  interpreter.initial = interpreter.row;
  location = fde.pc_begin;
  interpreter.Run(fde.program, fde.program_end, pc, &location);
  if (interpreter.failed) return unsupported;
  return Reduce(interpreter.row, pc, limit);
}

}  // namespace memtrace::preload
