import Testing
@testable import Neurite

/// Classification data whose input row i is [i], so subsets reveal which examples they hold.
func indexedDataset(classCounts: [Int]) -> Dataset {
    let labels = classCounts.enumerated().flatMap { [Int](repeating: $0.offset, count: $0.element) }
    return Dataset(inputs: Tensor(shape: [labels.count, 1], scalars: labels.indices.map { Float($0) }),
                   labels: labels, classCount: classCounts.count)
}

func ids(_ d: Dataset) -> [Int] { d.inputs.scalars.map { Int($0) } }

@Suite struct SplitTests {
    let data = indexedDataset(classCounts: [50, 30, 17, 3])

    @Test func defaultSplitSizesAddUpAndPartsAreDisjoint() throws {
        let s = try data.split(seed: 7)
        #expect([s.train.count, s.validation.count, s.test.count] == [80, 10, 10])
        let all = ids(s.train) + ids(s.validation) + ids(s.test)
        #expect(all.sorted() == Array(0..<100))
        // Labels travel with their inputs.
        for part in [s.train, s.validation, s.test] {
            for (i, y) in zip(ids(part), part.labels) { #expect(data.labels[i] == y) }
            #expect(part.classCount == 4)
        }
    }

    @Test func stratifiedPartsKeepClassProportions() throws {
        let s = try data.split(seed: 3)
        let fractions = [0.8, 0.1, 0.1]
        for (part, f) in zip([s.train, s.validation, s.test], fractions) {
            for (c, n) in [50, 30, 17, 3].enumerated() {
                let k = part.labels.filter { $0 == c }.count
                #expect(abs(Double(k) - Double(n) * f) < 1, "class \(c): \(k) of \(n) in a \(f) part")
            }
        }
    }

    /// The rounding law on many shapes: sizes are the rounded overall quotas, every class count per
    /// part is its quota rounded down or up, and everything adds up.
    @Test func controlledRoundingLaw() throws {
        var rng = SeededGenerator(seed: 11)
        for trial in 0..<300 {
            let classes = 1 + Int(rng.next() % 7)
            let counts = (0..<classes).map { _ in 1 + Int(rng.next() % 40) }
            let train = Double(rng.next() % 101) / 100
            let validation = Double(rng.next() % UInt64(101 - Int(train * 100))) / 100
            let d = indexedDataset(classCounts: counts)
            let s = try d.split(trainFraction: train, validationFraction: validation, seed: UInt64(trial))
            let parts = [s.train, s.validation, s.test]
            let fractions = [train, validation, max(0, 1 - train - validation)]
            #expect(parts.map(\.count).reduce(0, +) == d.count)
            #expect((parts.flatMap(ids)).sorted() == Array(0..<d.count))
            for (part, f) in zip(parts, fractions) {
                #expect(abs(Double(part.count) - Double(d.count) * f) < 1 + 1e-9)
                for (c, n) in counts.enumerated() {
                    let k = part.labels.filter { $0 == c }.count
                    #expect(abs(Double(k) - Double(n) * f) < 1 + 1e-9, "trial \(trial): class \(c) has \(k) of \(n) at \(f)")
                }
            }
        }
    }

    @Test func deterministicBySeed() throws {
        let a = try data.split(seed: 42), b = try data.split(seed: 42), c = try data.split(seed: 43)
        #expect(ids(a.train) == ids(b.train) && ids(a.validation) == ids(b.validation) && ids(a.test) == ids(b.test))
        #expect(ids(a.train) != ids(c.train))
        #expect(Set(ids(a.test)) != Set(ids(c.test)))
    }

    @Test func regressionIsShuffledAndCut() throws {
        let d = Dataset(inputs: Tensor(shape: [23, 1], scalars: (0..<23).map(Float.init)),
                        targets: Tensor(shape: [23, 1], scalars: (0..<23).map { Float($0 * 2) }))
        let s = try d.split(trainFraction: 0.6, validationFraction: 0.2, seed: 1)
        #expect([s.train.count, s.validation.count, s.test.count] == [14, 5, 4])   // 13.8, 4.6, 4.6
        #expect((ids(s.train) + ids(s.validation) + ids(s.test)).sorted() == Array(0..<23))
        #expect(s.train.targets!.scalars == ids(s.train).map { Float($0 * 2) })
        #expect(ids(s.train) != ids(s.train).sorted())
    }

    @Test func validationSplitForDataWithItsOwnTestSet() throws {
        let (train, validation) = try data.splittingValidation(fraction: 0.2, seed: 5)
        #expect(train.count == 80 && validation.count == 20)
        #expect(Set(ids(train)).isDisjoint(with: ids(validation)))
        #expect(validation.labels.filter { $0 == 0 }.count == 10)
    }

    @Test func badFractionsThrow() throws {
        #expect(throws: DataError.self) { try data.split(trainFraction: 0.9, validationFraction: 0.2, seed: 1) }
        #expect(throws: DataError.self) { try data.split(trainFraction: -0.1, seed: 1) }
        #expect(throws: DataError.self) { try data.splittingValidation(fraction: 1.5, seed: 1) }
    }

    @Test(arguments: [2, 3, 10])
    func kFoldProperties(k: Int) throws {
        let counts = [50, 30, 17, 3]
        let folds = try data.kFoldIndices(k: k, seed: 9)
        #expect(folds.count == k)
        var seen = [Int](repeating: 0, count: data.count)
        for fold in folds {
            for i in fold.validation { seen[i] += 1 }
            #expect(Set(fold.train).isDisjoint(with: fold.validation))
            #expect((fold.train + fold.validation).sorted() == Array(0..<data.count))
            #expect(abs(fold.validation.count * k - data.count) < k)   // sizes within one of N/k
            for (c, n) in counts.enumerated() {
                let m = fold.validation.filter { data.labels[$0] == c }.count
                #expect(abs(Double(m) - Double(n) / Double(k)) < 1, "class \(c): \(m) of \(n) in one of \(k) folds")
            }
        }
        #expect(seen == [Int](repeating: 1, count: data.count))
        #expect(try data.kFoldIndices(k: k, seed: 9).map(\.validation) == folds.map(\.validation))
        #expect(try data.kFoldIndices(k: k, seed: 10).map(\.validation) != folds.map(\.validation))
    }

    @Test func kFoldRejectsBadK() throws {
        for k in [-1, 0, 1, 101] {
            #expect(throws: DataError.invalidArgument(name: "k", value: "\(k)", requirement: "from 2 to the number of examples (100)")) {
                try data.kFoldIndices(k: k, seed: 0)
            }
        }
        #expect(try data.kFoldIndices(k: 100, seed: 0).allSatisfy { $0.validation.count == 1 })
    }

    @Test func ruleOfThumb() {
        #expect(Dataset.ruleOfThumbWarning(examples: 300, parameters: 100) == nil)
        let w = Dataset.ruleOfThumbWarning(examples: 299, parameters: 100)
        #expect(w != nil && w!.contains("300"))
    }
}
