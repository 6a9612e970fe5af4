//===- KernelConfig.cpp - what one compiled kernel is for -----------------===//

#include "attn/Runtime/KernelConfig.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <set>
#include <vector>

namespace attn::rt {

/// Why a sequence helper's configuration cannot be compiled, or nullopt.
static std::optional<std::string> validateSequence(const KernelConfig &c) {
  if (c.sequence != Sequence::SegmentsFromSeparators && c.separator != 0)
    return std::string("a separator applies to segments_from_separators "
                       "only");
  if (c.deterministic || !c.kernelOptions.empty() ||
      c.direction != Direction::Forward)
    return std::string(sequenceEntry(c.sequence)) +
           " takes no attention options (direction, deterministic, kernel "
           "options)";
  return std::nullopt;
}

std::optional<std::string> KernelConfig::validate() const {
  if (!cpu() && target.rfind("sm_", 0) != 0)
    return "unknown target '" + target + "' (expected cpu or an NVIDIA chip "
           "such as sm_80 or sm_90a)";
  if (isSequence())
    return validateSequence(*this);
  if (auto why = shape.validate())
    return why;
  if (cpu() && !kernelOptions.empty())
    return std::string("kernel options apply to NVIDIA targets only");
  if (!cpu() && shape.dtype == host::DType::F32)
    return std::string("NVIDIA targets take f16 and bf16 (tensor cores), not "
                       "f32");
  if (deterministic && direction != Direction::Backward)
    return std::string("deterministic applies to the backward only");
  return std::nullopt;
}

static const char *toString(Direction d) {
  return d == Direction::Forward ? "forward" : "backward";
}

std::string KernelConfig::canonical() const {
  // nlohmann::json objects keep their keys sorted.
  if (isSequence()) {
    nlohmann::json j = {{"target", target},
                        {"sequence", sequenceEntry(sequence)}};
    if (sequence == Sequence::SegmentsFromSeparators)
      j["separator"] = separator;
    return j.dump();
  }
  nlohmann::json j = {{"target", target},
                      {"direction", toString(direction)},
                      {"dtype", host::toString(shape.dtype)},
                      {"heads", shape.heads},
                      {"kv_heads", shape.kvHeads},
                      {"head_dim", shape.headDim},
                      {"value_dim", shape.valueDim},
                      {"mask", mask::toString(shape.mask)},
                      {"deterministic", deterministic},
                      {"kernel_options", kernelOptions}};
  // The scale as given (null: 1/sqrt(D)), so 0.125 and the default differ
  // only if the compiler would see them differently.
  j["scale"] = shape.scale ? nlohmann::json(*shape.scale) : nlohmann::json();
  return j.dump();
}

static std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string KernelConfig::describe() const {
  if (isSequence())
    return std::string(sequenceEntry(sequence)) +
           (sequence == Sequence::SegmentsFromSeparators
                ? " (separator " + std::to_string(separator) + ")"
                : "") +
           ", " + target;
  std::string s = std::string(host::toString(shape.dtype)) +
                  ", Hq=" + std::to_string(shape.heads) +
                  " Hkv=" + std::to_string(shape.kvHeads) +
                  " D=" + std::to_string(shape.headDim) +
                  " Dv=" + std::to_string(shape.valueDim) + ", mask " +
                  mask::toString(shape.mask);
  if (shape.scale)
    s += ", scale " + number(*shape.scale);
  s += std::string(", ") + toString(direction);
  if (deterministic)
    s += " (deterministic)";
  s += ", " + target;
  if (!kernelOptions.empty())
    s += " {" + kernelOptions + "}";
  return s;
}

std::string KernelConfig::aotFlags() const {
  if (isSequence())
    return "--target " + target + " --sequence " + sequenceEntry(sequence) +
           (sequence == Sequence::SegmentsFromSeparators
                ? " --separator " + std::to_string(separator)
                : "");
  std::string s = "--target " + target + " --dtype " +
                  host::toString(shape.dtype) +
                  " --heads " + std::to_string(shape.heads) +
                  " --kv-heads " + std::to_string(shape.kvHeads) +
                  " --head-dim " + std::to_string(shape.headDim) +
                  " --value-dim " + std::to_string(shape.valueDim) +
                  " --mask " + mask::toString(shape.mask);
  if (shape.scale)
    s += " --scale " + number(*shape.scale);
  if (direction == Direction::Backward)
    s += " --backward";
  if (deterministic)
    s += " --deterministic";
  if (!kernelOptions.empty())
    s += " --kernel-options '" + kernelOptions + "'";
  return s;
}

std::optional<std::string> parseKernelConfig(const std::string &text,
                                             KernelConfig &config) {
  // (A key given twice would silently mean its last value.)
  std::vector<std::set<std::string>> keys; // of each open object
  std::optional<std::string> twice;
  auto noteKeys = [&](int, nlohmann::json::parse_event_t event,
                      nlohmann::json &parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start)
      keys.emplace_back();
    else if (event == E::object_end && !keys.empty())
      keys.pop_back();
    else if (event == E::key && !keys.empty() &&
             !keys.back().insert(parsed.get<std::string>()).second && !twice)
      twice = parsed.get<std::string>();
    return true;
  };
  nlohmann::json j =
      nlohmann::json::parse(text, noteKeys, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return std::string("a kernel configuration is a JSON object; this is "
                       "not valid JSON");
  if (!j.is_object())
    return std::string("a kernel configuration is a JSON object");
  // A key as the messages quote it (escaped).
  auto quoted = [](const std::string &key) { return nlohmann::json(key).dump(); };
  if (twice)
    return "kernel configuration: " + quoted(*twice) + " is given twice";
  auto field = [&](const char *key, nlohmann::json::value_t type)
      -> std::optional<std::string> {
    if (!j.contains(key))
      return std::string("kernel configuration lacks \"") + key + "\"";
    bool ok = j[key].type() == type ||
              (type == nlohmann::json::value_t::number_integer &&
               j[key].is_number_unsigned());
    if (!ok)
      return std::string("kernel configuration: \"") + key +
             "\" has the wrong type";
    if (j[key].is_number_unsigned() &&
        j[key].get<uint64_t>() > uint64_t(INT64_MAX))
      return std::string("kernel configuration: \"") + key +
             "\" does not fit in int64";
    return std::nullopt;
  };
  // The first key of `j` not in `allowed`, if any (a misspelt optional
  // key would silently mean its default).
  auto unknownKey =
      [&](std::initializer_list<const char *> allowed) -> const std::string * {
    for (const auto &item : j.items())
      if (std::none_of(allowed.begin(), allowed.end(),
                       [&](const char *a) { return item.key() == a; }))
        return &item.key();
    return nullptr;
  };
  using T = nlohmann::json::value_t;
  if (j.contains("sequence")) {
    if (const std::string *key =
            unknownKey({"target", "sequence", "separator"}))
      return "kernel configuration: a sequence helper's configuration "
             "has no " +
             quoted(*key);
    for (auto [key, type] :
         {std::pair{"target", T::string}, {"sequence", T::string}})
      if (auto why = field(key, type))
        return why;
    KernelConfig c;
    c.target = j["target"].get<std::string>();
    std::string name = j["sequence"].get<std::string>();
    auto sequence = parseSequence(name);
    if (!sequence)
      return "kernel configuration: unknown sequence '" + name + "'";
    c.sequence = *sequence;
    if (c.sequence != Sequence::SegmentsFromSeparators &&
        j.contains("separator"))
      return std::string("kernel configuration: a separator applies to "
                         "segments_from_separators only");
    if (c.sequence == Sequence::SegmentsFromSeparators) {
      if (auto why = field("separator", T::number_integer))
        return why;
      c.separator = j["separator"].get<int64_t>();
    }
    if (auto why = c.validate())
      return "kernel configuration: " + *why;
    config = std::move(c);
    return std::nullopt;
  }
  if (const std::string *key = unknownKey(
          {"target", "direction", "dtype", "mask", "kernel_options", "heads",
           "kv_heads", "head_dim", "value_dim", "deterministic", "scale"}))
    return "kernel configuration: unknown key " + quoted(*key);
  for (auto [key, type] : {std::pair{"target", T::string},
                           {"direction", T::string},
                           {"dtype", T::string},
                           {"mask", T::string},
                           {"kernel_options", T::string},
                           {"heads", T::number_integer},
                           {"kv_heads", T::number_integer},
                           {"head_dim", T::number_integer},
                           {"value_dim", T::number_integer},
                           {"deterministic", T::boolean}})
    if (auto why = field(key, type))
      return why;
  KernelConfig c;
  c.target = j["target"].get<std::string>();
  std::string direction = j["direction"].get<std::string>();
  if (direction != "forward" && direction != "backward")
    return "kernel configuration: unknown direction '" + direction + "'";
  c.direction =
      direction == "forward" ? Direction::Forward : Direction::Backward;
  auto dtype = host::parseDType(j["dtype"].get<std::string>());
  if (!dtype)
    return std::string("kernel configuration: unknown dtype");
  c.shape.dtype = *dtype;
  c.shape.heads = j["heads"].get<int64_t>();
  c.shape.kvHeads = j["kv_heads"].get<int64_t>();
  c.shape.headDim = j["head_dim"].get<int64_t>();
  c.shape.valueDim = j["value_dim"].get<int64_t>();
  if (auto why = host::parseMask(j["mask"].get<std::string>(), c.shape.mask))
    return "kernel configuration: " + *why;
  if (j.contains("scale") && !j["scale"].is_null()) {
    if (!j["scale"].is_number())
      return std::string("kernel configuration: \"scale\" is not a number");
    c.shape.scale = j["scale"].get<double>();
  }
  c.deterministic = j["deterministic"].get<bool>();
  c.kernelOptions = j["kernel_options"].get<std::string>();
  if (auto why = c.validate())
    return "kernel configuration: " + *why;
  config = std::move(c);
  return std::nullopt;
}

} // namespace attn::rt
