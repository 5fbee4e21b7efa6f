// Seeded train/validation/test splits and k-fold cross-validation, stratified by class.
//
// Stratification uses controlled rounding: every class's share of every part is its exact quota
// rounded down or up, while the part sizes are the overall quotas rounded, so that everything adds up.

/// A data set cut into training, validation and test examples (disjoint, together all of them).
public struct DataSplit: Sendable {
    /// Examples to fit parameters on.
    public var train: Dataset
    /// Examples to choose hyperparameters and stop early on.
    public var validation: Dataset
    /// Examples to report the final figure on, touched once.
    public var test: Dataset
}

extension Dataset {
    /// Splits into train, validation and test parts (default 80/10/10), reproducibly by `seed`.
    ///
    /// Classification data with `stratified` cuts each class in the same proportions (each class
    /// count in each part is its exact share rounded down or up); regression data is shuffled and cut.
    /// The test part gets the rest: `1 - trainFraction - validationFraction`.
    /// - Throws: `DataError.invalidArgument` when a fraction is negative or they exceed 1.
    public func split(trainFraction: Double = 0.8, validationFraction: Double = 0.1, seed: UInt64,
                      stratified: Bool = true) throws -> DataSplit {
        try Dataset._checkFraction("trainFraction", trainFraction)
        try Dataset._checkFraction("validationFraction", validationFraction)
        guard trainFraction + validationFraction <= 1 + 1e-9 else {
            throw DataError.invalidArgument(name: "trainFraction + validationFraction",
                                            value: "\(trainFraction + validationFraction)", requirement: "at most 1")
        }
        let test = max(0, 1 - trainFraction - validationFraction)
        let parts = _partition([trainFraction, validationFraction, test], seed: seed, stratified: stratified)
        return DataSplit(train: subset(parts[0]), validation: subset(parts[1]), test: subset(parts[2]))
    }

    /// Splits off a validation part (for data sets that come with their own test split).
    /// - Returns: `(train, validation)` with `validation` holding `fraction` of the examples (rounded).
    /// - Throws: `DataError.invalidArgument` unless `fraction` is in [0, 1) and, when it is above 0,
    ///   both parts get at least one example (`--val-split 0.999` of 100 examples leaves no training
    ///   data, `0.001` no validation data: neither can be what was meant).
    public func splittingValidation(fraction: Double = 0.1, seed: UInt64,
                                    stratified: Bool = true) throws -> (train: Dataset, validation: Dataset) {
        try Dataset._checkFraction("fraction", fraction)
        guard fraction < 1 else {
            throw DataError.invalidArgument(name: "validation fraction", value: "\(fraction)", requirement: "below 1 (some data must be left for training)")
        }
        let parts = _partition([1 - fraction, fraction], seed: seed, stratified: stratified)
        if fraction > 0, parts[0].isEmpty || parts[1].isEmpty {
            throw DataError.invalidArgument(name: "validation fraction", value: "\(fraction)",
                                            requirement: "such that both parts of the \(count) examples are non-empty "
                                                + "(it leaves \(parts[0].count) for training and \(parts[1].count) for validation)")
        }
        return (subset(parts[0]), subset(parts[1]))
    }

    /// Index sets for k-fold cross-validation.
    ///
    /// Every index is in exactly one validation fold; fold `i`'s training indices are all the others.
    /// Fold sizes differ by at most one; with `stratified` (classification data) each class's count
    /// in each fold differs from count/k by less than one. Indices in each list are ascending.
    /// - Throws: `DataError.invalidArgument` unless 2 ≤ k ≤ count.
    public func kFoldIndices(k: Int = 10, seed: UInt64, stratified: Bool = true) throws -> [(train: [Int], validation: [Int])] {
        guard k >= 2 && k <= count else {
            throw DataError.invalidArgument(name: "k", value: "\(k)",
                                            requirement: "from 2 to the number of examples (\(count))")
        }
        var rng = SeededGenerator(seed: seed)
        var fold = [Int](repeating: 0, count: count)
        // Deal each class's shuffled examples round-robin, the dealer continuing across classes, so
        // each class spreads evenly and the folds stay within one example of each other in size.
        var dealer = 0
        for group in _groups(stratified: stratified) {
            for j in rng.permutation(group.count) {
                fold[group[j]] = dealer % k
                dealer += 1
            }
        }
        return (0..<k).map { f in
            (train: (0..<count).filter { fold[$0] != f }, validation: (0..<count).filter { fold[$0] == f })
        }
    }

    /// The course's rule of thumb: at least 3 training examples per trainable parameter.
    /// - Returns: nil when `examples >= 3 * parameters`, else a warning sentence.
    public static func ruleOfThumbWarning(examples: Int, parameters: Int) -> String? {
        if examples >= 3 * parameters { return nil }
        return "Only \(examples) training examples for \(parameters) parameters: the rule of thumb asks for at least "
            + "3 × parameters = \(3 * parameters) examples, so expect overfitting; use more data, a smaller model, "
            + "or regularisation."
    }

    static func _checkFraction(_ name: String, _ f: Double) throws {
        guard f.isFinite && f >= 0 && f <= 1 else {
            throw DataError.invalidArgument(name: name, value: "\(f)", requirement: "a fraction from 0 to 1")
        }
    }

    /// Example indices grouped by class (stratified classification data), else one group of all.
    func _groups(stratified: Bool) -> [[Int]] {
        guard stratified && isClassification else { return [Array(0..<count)] }
        var groups = [[Int]](repeating: [], count: classCount)
        for (i, y) in labels.enumerated() { groups[y].append(i) }
        return groups.filter { !$0.isEmpty }
    }

    /// Disjoint index lists covering all examples, sized by `fractions` (which sum to 1), each shuffled.
    func _partition(_ fractions: [Double], seed: UInt64, stratified: Bool) -> [[Int]] {
        var rng = SeededGenerator(seed: seed)
        let groups = _groups(stratified: stratified)
        let counts = _controlledRounding(groupSizes: groups.map(\.count), fractions: fractions)
        var parts = [[Int]](repeating: [], count: fractions.count)
        for (g, group) in groups.enumerated() {
            let order = rng.permutation(group.count)
            var at = 0
            for p in fractions.indices {
                parts[p] += order[at..<(at + counts[g][p])].map { group[$0] }
                at += counts[g][p]
            }
        }
        return parts.map { part in rng.permutation(part.count).map { part[$0] } }
    }
}

/// Largest-remainder rounding of `total * fractions` to integers summing to `total`.
func _apportion(_ total: Int, _ fractions: [Double]) -> [Int] {
    let sum = fractions.reduce(0, +)
    let quotas = fractions.map { _snap(Double(total) * $0 / sum) }
    var n = quotas.map { Int($0.rounded(.down)) }
    var left = total - n.reduce(0, +)
    for p in quotas.indices.sorted(by: { quotas[$0] - quotas[$0].rounded(.down) > quotas[$1] - quotas[$1].rounded(.down) }) where left > 0 {
        if quotas[p] > quotas[p].rounded(.down) { n[p] += 1; left -= 1 }
    }
    // Only reachable through float noise: give any rest to the largest part.
    if left != 0 { n[fractions.indices.max { fractions[$0] < fractions[$1] }!] += left }
    return n
}

/// `q` rounded to the nearest integer when float noise is all that separates them.
func _snap(_ q: Double) -> Double {
    let r = q.rounded()
    return abs(q - r) < 1e-9 * max(1, abs(q)) ? r : q
}

/// counts[g][p] with row sums `groupSizes`, column sums `_apportion(N, fractions)`, and each entry
/// its quota `groupSizes[g] * fractions[p]` rounded down or up (controlled rounding).
///
/// Start from the floors; the remaining units are a bipartite matching of groups to parts over
/// cells with a fractional part, found greedily (largest remainders first) and completed with
/// augmenting paths. Such a rounding always exists for a two-way table (Bacharach, 1966).
func _controlledRounding(groupSizes: [Int], fractions: [Double]) -> [[Int]] {
    let sum = fractions.reduce(0, +)
    let G = groupSizes.count, P = fractions.count
    let q = groupSizes.map { s in fractions.map { _snap(Double(s) * $0 / sum) } }
    var counts = q.map { $0.map { Int($0.rounded(.down)) } }
    let canRaise = q.map { $0.map { $0 > $0.rounded(.down) } }
    var rowLeft = (0..<G).map { groupSizes[$0] - counts[$0].reduce(0, +) }
    let columnTargets = _apportion(groupSizes.reduce(0, +), fractions)
    var columnLeft = (0..<P).map { p in columnTargets[p] - (0..<G).reduce(0) { $0 + counts[$1][p] } }
    var raised = [[Bool]](repeating: [Bool](repeating: false, count: P), count: G)

    // Greedy: largest fractional parts first.
    var cells: [(g: Int, p: Int, frac: Double)] = []
    for g in 0..<G { for p in 0..<P where canRaise[g][p] { cells.append((g, p, q[g][p] - q[g][p].rounded(.down))) } }
    cells.sort { $0.frac > $1.frac }
    for c in cells where rowLeft[c.g] > 0 && columnLeft[c.p] > 0 {
        raised[c.g][c.p] = true; rowLeft[c.g] -= 1; columnLeft[c.p] -= 1
    }

    // Augmenting paths: group →(unraised cell) part →(raised cell, undone) group → … → part with room.
    while let start = (0..<G).first(where: { rowLeft[$0] > 0 }) {
        var partParent = [Int](repeating: -1, count: P)   // group we reached each part from
        var groupParent = [Int](repeating: -1, count: G)  // part we reached each group from
        var queue = [start]
        var seenGroup = [Bool](repeating: false, count: G)
        seenGroup[start] = true
        var end = -1
        search: while !queue.isEmpty {
            let g = queue.removeFirst()
            for p in 0..<P where canRaise[g][p] && !raised[g][p] && partParent[p] < 0 {
                partParent[p] = g
                if columnLeft[p] > 0 { end = p; break search }
                for g2 in 0..<G where raised[g2][p] && !seenGroup[g2] {
                    seenGroup[g2] = true; groupParent[g2] = p; queue.append(g2)
                }
            }
        }
        if end < 0 { break }   // cannot happen for consistent input; handled below
        var p = end
        columnLeft[end] -= 1
        while true {
            let g = partParent[p]
            raised[g][p] = true
            if g == start { break }
            let prev = groupParent[g]
            raised[g][prev] = false
            p = prev
        }
        rowLeft[start] -= 1
    }
    for g in 0..<G { for p in 0..<P where raised[g][p] { counts[g][p] += 1 } }
    // Safety net (never expected): keep row sums exact even if the matching were incomplete.
    for g in 0..<G where rowLeft[g] > 0 {
        for p in 0..<P where rowLeft[g] > 0 && columnLeft[p] > 0 {
            let k = min(rowLeft[g], columnLeft[p])
            counts[g][p] += k; rowLeft[g] -= k; columnLeft[p] -= k
        }
    }
    return counts
}
