import Foundation
import Model

/// Parrot's routing, summarised per language over the image questions scored: the mean weight
/// each expert gets, the router's mean entropy, and how well the guidance vectors g separate the
/// languages, as JSON, a Markdown table and an SVG heat map (languages × experts).
///
/// The two diagnostics say why a router may stay near uniform:
/// - entropy H(p) = −Σᵢ pᵢ ln pᵢ per image, averaged per language (ln E: uniform; 0: one expert);
/// - guide_centroid_accuracy: each image's g assigned to the nearest (Euclidean) language centroid
///   of the other images' g (leave-one-out). Near 1: g tells the languages apart, and a router
///   could; near 1/L: g carries no language, and no router can route by it;
/// - guide_separation: the mean distance between two languages' centroids over the mean ‖g‖: how
///   large the language-specific part of g is beside the part every prompt shares (the template,
///   the question's shared words), which is what a linear router's logits can tell apart.
public struct RouterReport: Codable, Sendable {
    /// Languages in first-seen order ("?" for items without one).
    public let languages: [String]
    /// mean[l][i]: the mean routing weight of expert i over language l's images.
    public let mean: [[Double]]
    public let counts: [Int]
    /// entropy[l]: the mean entropy (nats) of language l's routing weights.
    public let entropy: [Double]
    /// guideAccuracy[l]: the share of language l's images whose g is nearest its own language's
    /// centroid (leave-one-out); nil with fewer than two languages.
    public let guideAccuracy: [Double]?
    /// The same over all images.
    public let guideCentroidAccuracy: Double?
    /// Mean pairwise distance of the languages' centroids of g over the mean ‖g‖.
    public let guideSeparation: Double?

    enum CodingKeys: String, CodingKey {
        case languages, mean, counts, entropy, guideAccuracy = "guide_accuracy", guideCentroidAccuracy = "guide_centroid_accuracy"
        case guideSeparation = "guide_separation"
    }

    public init(_ routing: [(language: String?, route: ParrotRoute)]) {
        var languages: [String] = [], sums: [String: [Double]] = [:], counts: [String: Int] = [:], entropies: [String: Double] = [:]
        for (language, route) in routing {
            let l = language ?? "?"
            if sums[l] == nil { languages.append(l); sums[l] = Array(repeating: 0, count: route.weights.count) }
            for (i, w) in route.weights.enumerated() { sums[l]![i] += Double(w) }
            entropies[l, default: 0] += route.weights.reduce(0) { $1 > 0 ? $0 - Double($1) * log(Double($1)) : $0 }
            counts[l, default: 0] += 1
        }
        self.languages = languages
        mean = languages.map { l in sums[l]!.map { $0 / Double(counts[l]!) } }
        self.counts = languages.map { counts[$0]! }
        entropy = languages.map { entropies[$0]! / Double(counts[$0]!) }
        let guides = routing.map { (languages.firstIndex(of: $0.language ?? "?")!, $0.route.guide.map(Double.init)) }
        guideSeparation = Self.separation(guides, classes: languages.count)
        if let (perLanguage, overall) = Self.nearestCentroid(guides, classes: languages.count) {
            guideAccuracy = perLanguage
            guideCentroidAccuracy = overall
        } else {
            guideAccuracy = nil
            guideCentroidAccuracy = nil
        }
    }

    /// Mean distance between two classes' centroids over the mean norm of the points; nil with
    /// fewer than two classes or all-zero points.
    static func separation(_ points: [(Int, [Double])], classes L: Int) -> Double? {
        guard L > 1, let D = points.first?.1.count else { return nil }
        var sums = [[Double]](repeating: [Double](repeating: 0, count: D), count: L), n = [Double](repeating: 0, count: L), norms = 0.0
        for (c, v) in points {
            n[c] += 1
            for k in 0..<D { sums[c][k] += v[k] }
            norms += v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        }
        let centroids = (0..<L).map { c in sums[c].map { $0 / n[c] } }
        var distance = 0.0, pairs = 0.0
        for a in 0..<L { for b in (a + 1)..<L {
            distance += zip(centroids[a], centroids[b]).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            pairs += 1
        } }
        let meanNorm = norms / Double(points.count)
        return meanNorm > 0 ? distance / pairs / meanNorm : nil
    }

    /// Leave-one-out nearest-centroid accuracy of `points` (class, vector): per class and overall;
    /// nil with fewer than two classes, or when some class has a single point (no centroid without it).
    static func nearestCentroid(_ points: [(Int, [Double])], classes L: Int) -> ([Double], Double)? {
        guard L > 1, let D = points.first?.1.count else { return nil }
        var sums = [[Double]](repeating: [Double](repeating: 0, count: D), count: L), n = [Int](repeating: 0, count: L)
        for (c, v) in points {
            n[c] += 1
            for k in 0..<D { sums[c][k] += v[k] }
        }
        guard n.allSatisfy({ $0 > 1 }) else { return nil }
        var correct = [Int](repeating: 0, count: L)
        for (c, v) in points {
            var best = -1, bestDistance = Double.infinity
            for j in 0..<L {
                // The centroid of class j without this point when it is j's.
                let count = Double(n[j] - (j == c ? 1 : 0))
                var d = 0.0
                for k in 0..<D {
                    let centroid = (sums[j][k] - (j == c ? v[k] : 0)) / count
                    d += (v[k] - centroid) * (v[k] - centroid)
                }
                if d < bestDistance { bestDistance = d; best = j }
            }
            if best == c { correct[c] += 1 }
        }
        return ((0..<L).map { Double(correct[$0]) / Double(n[$0]) }, Double(correct.reduce(0, +)) / Double(points.count))
    }

    public var experts: Int { mean.first?.count ?? 0 }

    /// One row per language: images, each expert's mean weight, the mean entropy (ln E is
    /// uniform) and g's nearest-centroid accuracy; then g's accuracy over all images.
    public func markdown() -> String {
        var out = "| language | images | " + (0..<experts).map { "expert \($0)" }.joined(separator: " | ")
            + String(format: " | entropy (uniform %.3f) | g nearest centroid |\n", log(Double(max(experts, 1))))
        out += "|---|---:|" + String(repeating: "---:|", count: experts + 2) + "\n"
        for l in languages.indices {
            out += "| \(languages[l]) | \(counts[l]) | " + mean[l].map { String(format: "%.3f", $0) }.joined(separator: " | ")
                + String(format: " | %.3f | ", entropy[l]) + (guideAccuracy.map { String(format: "%.3f", $0[l]) } ?? "–") + " |\n"
        }
        if let all = guideCentroidAccuracy {
            out += String(format: "\ng by language, nearest centroid (leave-one-out): %.3f of %d images (chance %.3f)",
                          all, counts.reduce(0, +), 1 / Double(languages.count))
            out += guideSeparation.map { String(format: "; the languages' centroids lie %.3f of ‖g‖ apart\n", $0) } ?? "\n"
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
