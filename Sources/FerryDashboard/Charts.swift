import FerryServer
import FerryServerStore
import Foundation

/// Small SVG charts drawn by the server: no script, presentation attributes only (the page's CSP allows no inline
/// styles), a `<title>` on every mark for its exact value, and an `aria-label` that says what the chart shows.
enum Charts {
    /// Vertical bars, one per label.
    static func bars(
        _ data: [(label: String, value: Double)], label: String, dates: Bool = false, format: (Double) -> String
    ) -> String {
        let width = 640.0
        let height = 180.0
        let bottom = 24.0
        let top = 16.0
        let maximum = max(data.map(\.value).max() ?? 0, 1e-9)
        let slot = width / Double(max(data.count, 1))
        var svg =
            "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(Dashboard.escape(label))\">"
        svg +=
            "<line x1=\"0\" y1=\"\(height - bottom)\" x2=\"\(width)\" y2=\"\(height - bottom)\" stroke=\"currentColor\" stroke-opacity=\"0.4\"/>"
        for (index, point) in data.enumerated() {
            let h = (height - bottom - top) * point.value / maximum
            let barWidth = min(slot * 0.7, 48)
            let x = Double(index) * slot + (slot - barWidth) / 2
            svg +=
                "<rect x=\"\(fmt(x))\" y=\"\(fmt(height - bottom - h))\" width=\"\(fmt(barWidth))\" height=\"\(fmt(h))\" fill=\"#2f6fde\">"
            svg += "<title>\(Dashboard.escape(point.label)): \(Dashboard.escape(format(point.value)))</title></rect>"
            if data.count <= 16 || index % max(1, data.count / 8) == 0 {
                let text =
                    dates
                    ? String(point.label.suffix(5))
                    : (point.label.count > 16 ? String(point.label.prefix(15)) + "…" : point.label)
                svg +=
                    "<text x=\"\(fmt(x + barWidth / 2))\" y=\"\(fmt(height - 8))\" font-size=\"10\" text-anchor=\"middle\" fill=\"currentColor\">"
                svg += Dashboard.escape(text) + "</text>"
            }
        }
        svg +=
            "<text x=\"4\" y=\"12\" font-size=\"11\" fill=\"currentColor\">max \(Dashboard.escape(format(maximum)))</text></svg>"
        return svg
    }

    /// Lines of rates (0–1) over time, one per series, with a dashed line at `goal`.
    static func rates(_ series: [(name: String, points: [Double])], goal: Double, label: String) -> String {
        let width = 640.0
        let height = 200.0
        let pad = 24.0
        let count = max(series.map(\.points.count).max() ?? 0, 2)
        func x(_ i: Int) -> Double { pad + (width - 2 * pad) * Double(i) / Double(count - 1) }
        func y(_ v: Double) -> Double { height - pad - (height - 2 * pad) * min(max(v, 0), 1) }
        let colours = ["#2f6fde", "#c2410c", "#15803d", "#7c3aed", "#be185d"]
        var svg =
            "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(Dashboard.escape(label))\">"
        for tick in [0.0, 0.5, 1.0] {
            svg +=
                "<text x=\"0\" y=\"\(fmt(y(tick) + 4))\" font-size=\"10\" fill=\"currentColor\">\(Int(tick * 100))%</text>"
        }
        svg +=
            "<line x1=\"\(pad)\" y1=\"\(fmt(y(goal)))\" x2=\"\(width - pad)\" y2=\"\(fmt(y(goal)))\" stroke=\"#b91c1c\" stroke-dasharray=\"6 4\">"
        svg += "<title>the \(Int(goal * 100))% line</title></line>"
        for (index, line) in series.enumerated() {
            let colour = colours[index % colours.count]
            let points = line.points.enumerated().map { "\(fmt(x($0.offset))),\(fmt(y($0.element)))" }.joined(
                separator: " ")
            svg += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
            for (i, value) in line.points.enumerated() {
                svg += "<circle cx=\"\(fmt(x(i)))\" cy=\"\(fmt(y(value)))\" r=\"3.5\" fill=\"\(colour)\">"
                svg +=
                    "<title>\(Dashboard.escape(line.name)) run \(i + 1): \(String(format: "%.1f%%", value * 100))</title></circle>"
            }
        }
        return svg + "</svg>"
    }

    static func fmt(_ value: Double) -> String { String(format: "%.1f", value) }
}
