import Foundation

/// A small SVG line chart: one line per series over shared x labels, y from 0 to 1
/// (accuracy), with a legend. No dependencies; opens in any browser.
public enum LineChart {
    public static func svg(title: String, xLabels: [String], series: [(name: String, values: [Double?])], yLabel: String = "accuracy") -> String {
        let width = 720.0, height = 420.0, left = 60.0, right = 190.0, top = 40.0, bottom = 60.0
        let plotW = width - left - right, plotH = height - top - bottom
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        func x(_ i: Int) -> Double { left + (xLabels.count > 1 ? plotW * Double(i) / Double(xLabels.count - 1) : plotW / 2) }
        func y(_ v: Double) -> Double { top + plotH * (1 - min(max(v, 0), 1)) }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="22" font-size="15" font-weight="bold">\(esc(title))</text>

            """
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            s += "<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(y(tick))\" y2=\"\(y(tick))\" stroke=\"#ddd\"/>"
            s += "<text x=\"\(left - 8)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(String(format: "%.2f", tick))</text>\n"
        }
        s += "<text transform=\"translate(16,\(top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\">\(esc(yLabel))</text>\n"
        for (i, label) in xLabels.enumerated() {
            s += "<text x=\"\(x(i))\" y=\"\(top + plotH + 20)\" text-anchor=\"middle\">\(esc(label))</text>\n"
        }
        for (k, line) in series.enumerated() {
            let color = colors[k % colors.count]
            let points = line.values.enumerated().compactMap { i, v in v.map { "\(x(i)),\(y($0))" } }
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            for (i, v) in line.values.enumerated() {
                if let v { s += "<circle cx=\"\(x(i))\" cy=\"\(y(v))\" r=\"3.5\" fill=\"\(color)\"><title>\(esc(line.name)) \(esc(xLabels[i])): \(String(format: "%.4f", v))</title></circle>\n" }
            }
            let ly = top + 18 * Double(k)
            s += "<line x1=\"\(left + plotW + 16)\" x2=\"\(left + plotW + 36)\" y1=\"\(ly)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(left + plotW + 42)\" y=\"\(ly + 4)\">\(esc(line.name))</text>\n"
        }
        return s + "</svg>\n"
    }
}
