// Progress bar, history.csv, curves.svg and the evaluation report.
#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace classifier {

Progress::Progress(std::ostream& out, bool terminal, int64_t epochs)
    : out_(out), terminal_(terminal), epochs_(epochs) {}

void Progress::batch(int64_t epoch, int64_t batch, int64_t batches, double loss, double accuracy,
                     double sentences_per_second) {
  if (!terminal_) return;
  const int width = 24;
  int filled = static_cast<int>(width * batch / std::max<int64_t>(batches, 1));
  char line[200];
  std::snprintf(line, sizeof line,
                "\repoch %lld/%lld [%s%s] step %lld/%lld  loss %.4f  acc %.3f  %.0f sent/s ",
                static_cast<long long>(epoch), static_cast<long long>(epochs_),
                std::string(static_cast<size_t>(filled), '#').c_str(),
                std::string(static_cast<size_t>(width - filled), '.').c_str(),
                static_cast<long long>(batch), static_cast<long long>(batches), loss, accuracy,
                sentences_per_second);
  out_ << line << std::flush;
}

void Progress::epoch(const EpochStats& s) {
  char line[200];
  int n = std::snprintf(line, sizeof line, "epoch %lld/%lld  loss %.4f  acc %.3f",
                        static_cast<long long>(s.epoch), static_cast<long long>(epochs_),
                        s.train_loss, s.train_accuracy);
  if (s.valid_loss)
    n += std::snprintf(line + n, sizeof line - static_cast<size_t>(n),
                       "  valid loss %.4f  valid acc %.3f", *s.valid_loss, *s.valid_accuracy);
  std::snprintf(line + n, sizeof line - static_cast<size_t>(n), "  %.0f sent/s  %.2fs",
                s.sentences_per_second, s.seconds);
  if (terminal_) out_ << "\r\033[K";
  out_ << line << "\n" << std::flush;
}

void write_history_csv(const std::vector<EpochStats>& history, const std::string& path) {
  std::ostringstream csv;
  csv << "epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,seconds\n";
  for (const EpochStats& s : history) {
    csv << s.epoch << "," << s.train_loss << "," << s.train_accuracy << ",";
    if (s.valid_loss)
      csv << *s.valid_loss << "," << *s.valid_accuracy;
    else
      csv << ",";
    csv << "," << s.seconds << "\n";
  }
  io::write_file_atomically(path, csv.str());
}

namespace {
// One panel: a polyline per series over epochs, scaled into a 360x220 box at (x0, 40).
void panel(std::ostringstream& svg, double x0, const std::string& title,
           const std::vector<std::pair<std::string, std::vector<double>>>& series) {
  const double w = 360, h = 220, top = 40;
  double lo = 1e300, hi = -1e300;
  size_t n = 0;
  for (auto& [name, ys] : series) {
    n = std::max(n, ys.size());
    for (double y : ys) lo = std::min(lo, y), hi = std::max(hi, y);
  }
  if (hi <= lo) hi = lo + 1;
  svg << "<text x='" << x0 + w / 2 << "' y='25' text-anchor='middle' font-size='16'>" << title
      << "</text>\n";
  svg << "<rect x='" << x0 << "' y='" << top << "' width='" << w << "' height='" << h
      << "' fill='none' stroke='#999'/>\n";
  svg << "<text x='" << x0 - 5 << "' y='" << top + 5 << "' text-anchor='end' font-size='11'>"
      << std::setprecision(3) << hi << "</text>\n";
  svg << "<text x='" << x0 - 5 << "' y='" << top + h << "' text-anchor='end' font-size='11'>" << lo
      << "</text>\n";
  svg << "<text x='" << x0 + w / 2 << "' y='" << top + h + 25
      << "' text-anchor='middle' font-size='12'>epoch</text>\n";
  const char* colors[] = {"#1f77b4", "#d62728"};
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& ys = series[k].second;
    svg << "<polyline fill='none' stroke-width='2' stroke='" << colors[k % 2] << "' points='";
    for (size_t i = 0; i < ys.size(); ++i) {
      double x = x0 + (n > 1 ? w * static_cast<double>(i) / static_cast<double>(n - 1) : w / 2);
      double y = top + h - h * (ys[i] - lo) / (hi - lo);
      svg << x << "," << y << " ";
    }
    svg << "'/>\n<text x='" << x0 + w - 60 << "' y='" << top + 18 + 16 * static_cast<double>(k)
        << "' font-size='12' fill='" << colors[k % 2] << "'>" << series[k].first << "</text>\n";
  }
}
}  // namespace

void write_curves_svg(const std::vector<EpochStats>& history, const std::string& path) {
  std::vector<double> tl, ta, vl, va;
  for (const EpochStats& s : history) {
    tl.push_back(s.train_loss);
    ta.push_back(s.train_accuracy);
    if (s.valid_loss) vl.push_back(*s.valid_loss), va.push_back(*s.valid_accuracy);
  }
  std::vector<std::pair<std::string, std::vector<double>>> loss{{"train", tl}}, acc{{"train", ta}};
  if (!vl.empty()) loss.push_back({"valid", vl}), acc.push_back({"valid", va});
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='860' height='300' "
         "font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  panel(svg, 60, "loss", loss);
  panel(svg, 480, "accuracy", acc);
  svg << "</svg>\n";
  io::write_file_atomically(path, svg.str());
}

void print_evaluation(std::ostream& out, const Evaluation& e, const text::LabelSet& labels) {
  char line[256];
  std::snprintf(line, sizeof line, "accuracy %.4f  loss %.4f\n", e.accuracy, e.loss);
  out << line;
  const std::string k = e.k < 0 ? "all" : std::to_string(e.k);
  std::snprintf(line, sizeof line, "P@%s %.4f  R@%s %.4f\n\n", k.c_str(), e.precision_at_k,
                k.c_str(), e.recall_at_k);
  out << line;
  size_t width = 9;
  for (const std::string& n : labels.names()) width = std::max(width, n.size() + 2);
  out << std::left << std::setw(static_cast<int>(width)) << "class" << std::right
      << " precision    recall        f1\n";
  for (int64_t c = 0; c < labels.size(); ++c) {
    std::snprintf(line, sizeof line, " %9.4f %9.4f %9.4f\n", e.precision[static_cast<size_t>(c)],
                  e.recall[static_cast<size_t>(c)], e.f1[static_cast<size_t>(c)]);
    out << std::left << std::setw(static_cast<int>(width)) << labels.name(c) << line;
  }
  out << "\nconfusion matrix (rows: true, columns: predicted)\n"
      << std::setw(static_cast<int>(width)) << "";
  for (const std::string& n : labels.names())
    out << std::right << std::setw(static_cast<int>(width)) << n;
  out << "\n";
  for (int64_t c = 0; c < labels.size(); ++c) {
    out << std::left << std::setw(static_cast<int>(width)) << labels.name(c);
    for (int64_t v : e.confusion[static_cast<size_t>(c)])
      out << std::right << std::setw(static_cast<int>(width)) << v;
    out << "\n";
  }
}

}  // namespace classifier
