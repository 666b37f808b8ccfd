#include "observe/prometheus_text.hpp"

#include <charconv>
#include <cmath>

namespace plexus::observe {
namespace {

// Shortest text that reads back as the same double; integers without a fraction.
void append_number(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? end : buf);
}

// Label values: backslash, double quote and line feed are escaped; HELP text: backslash and
// line feed.
void append_escaped(std::string& out, std::string_view s, bool quotes) {
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// {a="x",b="y"} plus an optional extra label (le); nothing when there are no labels.
void append_labels(std::string& out, const FamilySnapshot& f, const Sample& s,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  const auto n = std::min(f.label_names.size(), s.label_values.size());
  if (n == 0 && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < n; ++i) {
    if (!first) out += ',';
    first = false;
    out += f.label_names[i];
    out += "=\"";
    append_escaped(out, s.label_values[i], true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

std::string to_prometheus_text(const Snapshot& snapshot) {
  std::string out;
  out.reserve(4096);
  for (const auto& f : snapshot) {
    out += "# HELP " + f.name + ' ';
    append_escaped(out, f.help, false);
    out += "\n# TYPE " + f.name + ' ';
    out += to_string(f.type);
    out += '\n';
    for (const auto& s : f.samples) {
      if (f.type != MetricType::histogram) {
        out += f.name;
        append_labels(out, f, s);
        out += ' ';
        append_number(out, s.value);
        out += '\n';
        continue;
      }
      const auto& h = s.histogram;
      for (const double bound : f.bounds) {
        std::string le;
        append_number(le, bound);
        out += f.name + "_bucket";
        append_labels(out, f, s, "le", le);
        out += ' ';
        append_number(out, static_cast<double>(h.count_at_most(bound / f.scale)));
        out += '\n';
      }
      out += f.name + "_bucket";
      append_labels(out, f, s, "le", "+Inf");
      out += ' ';
      append_number(out, static_cast<double>(h.count));
      out += '\n' + f.name + "_sum";
      append_labels(out, f, s);
      out += ' ';
      append_number(out, static_cast<double>(h.sum) * f.scale);
      out += '\n' + f.name + "_count";
      append_labels(out, f, s);
      out += ' ';
      append_number(out, static_cast<double>(h.count));
      out += '\n';
    }
  }
  return out;
}

}  // namespace plexus::observe
