// neurite-bench's shared options: the --threads list and its errors.

import ArgumentParser
import Testing
@testable import NeuriteBench

@Suite struct ThreadListTests {
    @Test(arguments: [("1", [1]), ("1,2", [1, 2]), ("2,1", [1, 2]), (" 1, 2 ,4", [1, 2, 4]), ("2,2,1", [1, 2])])
    func goodLists(list: String, expected: [Int]) throws {
        #expect(try parseThreadList(list) == expected)
        let options = try BenchOptions.parse(["--threads", list, "--allow-debug"])
        #expect(try options.threadCounts() == expected)
    }

    @Test(arguments: ["0", "a", "", "1,,2", "1,-2", "1.5", "2,", "1025"])
    func badListsAreValidationErrors(list: String) {
        do {
            _ = try BenchOptions.parse(["--threads", list, "--allow-debug"])
            Issue.record("'\(list)' was accepted")
        } catch {
            let message = BenchOptions.message(for: error)
            #expect(message.contains("--threads"), "message: \(message)")
            #expect(message.contains(list.isEmpty ? "empty" : list), "message: \(message)")
        }
        #expect(throws: ValidationError.self) { try parseThreadList(list) }
    }

    @Test func sharedOptionsRoundTrip() throws {
        let options = try BenchOptions.parse(["--threads", "1,2", "--repeat", "3", "--warmup", "0", "--json", "--allow-debug"])
        let again = try BenchOptions.parse(options.arguments())
        #expect(again.arguments() == options.arguments())
        #expect(try again.threadCounts() == [1, 2])
        #expect(again.repetitions == 3 && again.warmup == 0 && again.json)
    }

    /// train times whole epochs: the kernel benchmarks' sampling options are refused, not ignored.
    @Test func trainRefusesTheSamplingOptions() throws {
        for flags in [["--repeat", "5"], ["--warmup", "0"]] {
            #expect(throws: (any Error).self) { try TrainBench.parse(["--allow-debug", "--threads", "1"] + flags) }
            do {
                _ = try TrainBench.parse(["--allow-debug", "--threads", "1"] + flags)
            } catch {
                let message = TrainBench.message(for: error)
                #expect(message.contains(flags[0]) && message.contains("--rounds"), "\(message)")
            }
        }
        _ = try TrainBench.parse(["--allow-debug", "--threads", "1", "--rounds", "2"])
    }

    @Test func allPlansEveryBenchmarkWithTheSharedOptions() throws {
        let all = try AllBench.parse(["--threads", "1,2", "--repeat", "2", "--allow-debug", "--sizes", "64",
                                      "--limit", "100", "--model", "mlp,lenet"])
        let plan = all.plan()
        #expect(plan.map(\.name) == ["peak", "gemm", "act", "conv", "train", "train"])
        for step in plan {
            #expect(step.arguments.contains("--threads") && step.arguments.contains("1,2"))
            _ = try step.command.parseAsRoot(step.arguments)   // each step's arguments are valid for it
        }
        #expect(plan[1].arguments.suffix(2) == ["--sizes", "64"])
        #expect(plan[5].arguments.contains("lenet"))
        #expect(plan[4].arguments.contains("--repeat") == false)   // train does not sample
        #expect(NeuriteBench.benchmarks.contains { $0 == AllBench.self })
    }
}
