/// ROC analysis of flag scores: positives are harmful examples, scores are max p(<rf>).
public struct ROC: Sendable {
    /// (false-positive rate, true-positive rate) points from the strictest threshold to the loosest.
    public let points: [(fpr: Double, tpr: Double)]
    public let auroc: Double
    public let positives: Int
    public let negatives: Int
    let scoredPositives: [Double]
    let scoredNegatives: [Double]

    public init(positives: [Double], negatives: [Double]) {
        self.positives = positives.count
        self.negatives = negatives.count
        scoredPositives = positives.sorted(by: >)
        scoredNegatives = negatives.sorted(by: >)
        // Thresholds at every distinct score; ties move both rates together.
        let all = Array(Set(positives + negatives)).sorted(by: >)
        var pts: [(Double, Double)] = [(0, 0)]
        var tp = 0, fp = 0
        var pi = 0, ni = 0
        for s in all {
            while pi < scoredPositives.count && scoredPositives[pi] >= s { tp += 1; pi += 1 }
            while ni < scoredNegatives.count && scoredNegatives[ni] >= s { fp += 1; ni += 1 }
            pts.append((negatives.isEmpty ? 0 : Double(fp) / Double(negatives.count),
                        positives.isEmpty ? 0 : Double(tp) / Double(positives.count)))
        }
        if pts.last! != (1, 1) { pts.append((1, 1)) }
        points = pts
        // Trapezoid area = P(score_pos > score_neg) + ½ P(tie).
        var area = 0.0
        for i in 1..<pts.count { area += (pts[i].0 - pts[i - 1].0) * (pts[i].1 + pts[i - 1].1) / 2 }
        auroc = area
    }

    /// The highest TPR whose FPR ≤ `maxFPR`, and the threshold achieving it (the smallest score above
    /// which at most `maxFPR` of negatives lie).
    public func tpr(atFPR maxFPR: Double) -> (tpr: Double, threshold: Double) {
        guard !scoredNegatives.isEmpty, !scoredPositives.isEmpty else { return (0, 1) }
        let allowed = Int((maxFPR * Double(negatives)).rounded(.down))
        // A score strictly above the (allowed)-th largest negative keeps FP ≤ allowed.
        let bar = allowed < scoredNegatives.count ? scoredNegatives[allowed] : -Double.infinity
        let tp = scoredPositives.filter { $0 > bar }.count
        return (Double(tp) / Double(positives), bar)
    }

    /// The ROC curve as a standalone SVG image.
    public func svg(title: String) -> String {
        let w = 360.0, h = 360.0, m = 40.0
        func x(_ v: Double) -> Double { m + v * (w - 2 * m) }
        func y(_ v: Double) -> Double { h - m - v * (h - 2 * m) }
        let path = points.map { String(format: "%.1f,%.1f", x($0.fpr), y($0.tpr)) }.joined(separator: " ")
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <line x1="\(x(0))" y1="\(y(0))" x2="\(x(1))" y2="\(y(0))" stroke="black"/>
        <line x1="\(x(0))" y1="\(y(0))" x2="\(x(0))" y2="\(y(1))" stroke="black"/>
        <line x1="\(x(0))" y1="\(y(0))" x2="\(x(1))" y2="\(y(1))" stroke="#bbb" stroke-dasharray="4"/>
        <polyline fill="none" stroke="#c00" stroke-width="2" points="\(path)"/>
        <text x="\(w / 2)" y="\(h - 8)" text-anchor="middle">false-positive rate</text>
        <text x="12" y="\(h / 2)" text-anchor="middle" transform="rotate(-90 12 \(h / 2))">true-positive rate</text>
        <text x="\(w / 2)" y="20" text-anchor="middle">\(title) — AUROC \(String(format: "%.3f", auroc)) (\(positives) pos / \(negatives) neg)</text>
        </svg>
        """
    }
}
