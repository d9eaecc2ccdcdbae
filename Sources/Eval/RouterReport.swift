import Foundation

/// Parrot's routing, summarised: the mean weight each expert gets per language over the image
/// questions scored, as JSON, a Markdown table and an SVG heat map (languages × experts).
public struct RouterReport: Codable, Sendable {
    /// Languages in first-seen order ("?" for items without one).
    public let languages: [String]
    /// mean[l][i]: the mean routing weight of expert i over language l's images.
    public let mean: [[Double]]
    public let counts: [Int]

    public init(_ routing: [(language: String?, weights: [Float])]) {
        var languages: [String] = [], sums: [String: [Double]] = [:], counts: [String: Int] = [:]
        for (language, weights) in routing {
            let l = language ?? "?"
            if sums[l] == nil { languages.append(l); sums[l] = Array(repeating: 0, count: weights.count) }
            for (i, w) in weights.enumerated() { sums[l]![i] += Double(w) }
            counts[l, default: 0] += 1
        }
        self.languages = languages
        mean = languages.map { l in sums[l]!.map { $0 / Double(counts[l]!) } }
        self.counts = languages.map { counts[$0]! }
    }

    public var experts: Int { mean.first?.count ?? 0 }

    public func markdown() -> String {
        var out = "| language | images | " + (0..<experts).map { "expert \($0)" }.joined(separator: " | ") + " |\n"
        out += "|---|---:|" + String(repeating: "---:|", count: experts) + "\n"
        for (l, row) in zip(languages, mean).enumerated().map({ ($0.offset, $0.element.1) }) {
            out += "| \(languages[l]) | \(counts[l]) | " + row.map { String(format: "%.3f", $0) }.joined(separator: " | ") + " |\n"
        }
        return out
    }

    /// A heat map: one row per language, one column per expert, darker = more weight (0 … 1).
    public func svg(title: String = "Mean routing weight per expert and language") -> String {
        let cell = 56.0, left = 60.0, top = 48.0
        let width = left + cell * Double(experts) + 20, height = top + cell * Double(languages.count) + 30
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(left)\" y=\"20\" font-size=\"14\">\(title)</text>\n"
        for i in 0..<experts {
            s += "<text x=\"\(left + cell * (Double(i) + 0.5))\" y=\"\(top - 8)\" text-anchor=\"middle\">E\(i)</text>\n"
        }
        for (l, row) in mean.enumerated() {
            let y = top + cell * Double(l)
            s += "<text x=\"\(left - 8)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"end\">\(languages[l])</text>\n"
            for (i, w) in row.enumerated() {
                let shade = Int((255 * (1 - min(max(w, 0), 1))).rounded())
                let x = left + cell * Double(i)
                s += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell - 2)\" height=\"\(cell - 2)\" fill=\"rgb(\(shade),\(shade),255)\"/>\n"
                s += "<text x=\"\(x + cell / 2 - 1)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"middle\" fill=\"\(w > 0.5 ? "white" : "black")\">\(String(format: "%.2f", w))</text>\n"
            }
        }
        return s + "</svg>\n"
    }
}
