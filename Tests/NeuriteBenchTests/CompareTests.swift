// `neurite-bench compare`: matching, ratios, medians, unmatched cases and file errors.

import Foundation
import Testing
@testable import NeuriteBench

@Suite struct CompareTests {
    /// A fresh temporary directory holding `files`.
    func fixture(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return dir
    }

    let neurite = """
        {"bench":"gemm","case":"square 512","m":512,"n":512,"k":512,"transA":false,"transB":false,"threads":1,"gflops":100.0,"ms":2.7,"lib":"neurite"}
        {"bench":"gemm","case":"square 512","m":512,"n":512,"k":512,"transA":false,"transB":false,"threads":2,"gflops":180.0,"ms":1.5,"lib":"neurite"}
        {"bench":"gemm","case":"mlp784-256/b64 dW","m":256,"n":784,"k":64,"transA":true,"transB":false,"threads":1,"gflops":60.0,"ms":0.4,"lib":"neurite"}

        {"bench":"train","model":"mlp","threads":1,"batch":64,"samples_per_s":30000,"epoch_s":2.0,"test_accuracy":0.8,"lib":"neurite"}
        {"bench":"act","op":"relu","count":4194304,"threads":1,"ms":1.0,"gbps":30.0,"lib":"neurite"}
        """
    let peer = """
        # numpy, two interleaved runs appended
        {"bench":"gemm","m":512,"n":512,"k":512,"transA":false,"transB":false,"threads":1,"gflops":80.0,"ms":3.3,"lib":"numpy"}
        {"bench":"gemm","m":512,"n":512,"k":512,"transA":false,"transB":false,"threads":1,"gflops":120.0,"ms":2.2,"lib":"numpy"}
        {"bench":"gemm","m":512,"n":512,"k":512,"transA":false,"transB":false,"threads":2,"gflops":200.0,"ms":1.3,"lib":"numpy"}
        {"bench":"gemm","m":256,"n":784,"k":64,"transA":false,"transB":false,"threads":1,"gflops":50.0,"ms":0.5,"lib":"numpy"}
        {"bench":"train","model":"mlp","threads":1,"batch":64,"samples_per_s":40000,"epoch_s":1.5,"test_accuracy":0.82,"lib":"numpy"}
        {"bench":"train","model":"lenet","threads":1,"batch":64,"samples_per_s":7000,"epoch_s":8.5,"test_accuracy":0.7,"lib":"numpy"}
        """

    @Test func matchesCasesAndComputesRatios() throws {
        let dir = try fixture(["a.jsonl": neurite, "b.jsonl": peer])
        let a = try BenchRecord.load(path: dir.appendingPathComponent("a.jsonl").path)
        let b = try BenchRecord.load(path: dir.appendingPathComponent("b.jsonl").path)
        #expect(a.count == 5 && b.count == 6)
        let c = Comparison(a, b, nameA: "neurite", nameB: "numpy")
        #expect(c.rows.map(\.label) == ["gemm 512x512x512 nn", "gemm 512x512x512 nn", "train mlp b64"])
        #expect(c.rows.map(\.threads) == [1, 2, 1])
        // 1 thread: numpy's two records reduce to their median, 100.
        #expect(c.rows[0].b == 100 && c.rows[0].countB == 2 && c.rows[0].ratio == 1.0)
        #expect(abs(c.rows[1].ratio - 0.9) < 1e-12)
        #expect(c.rows[2].metric == "samples_per_s" && c.rows[2].ratio == 0.75)
        // The dW shape differs in transA, so it does not match; act and lenet exist on one side only.
        #expect(c.onlyInA == ["gemm 256x784x64 tn, 1 thread", "act relu, 1 thread"])
        #expect(c.onlyInB == ["gemm 256x784x64 nn, 1 thread", "train lenet b64, 1 thread"])
        let table = c.render()
        #expect(table.contains("gemm 512x512x512 nn") && table.contains("0.90") && table.contains("0.75"))
        #expect(table.contains("median of 1 / 2"))
        #expect(table.contains("only in A: act relu, 1 thread") && table.contains("only in B: train lenet b64, 1 thread"))
    }

    /// Training records of the plain and `make run` recipes are separate cases, never one median.
    @Test func recipesAreSeparateCases() throws {
        let dir = try fixture([
            "a.jsonl": """
                {"bench":"train","model":"mlp","recipe":"plain","threads":1,"batch":64,"samples_per_s":60000,"lib":"neurite"}
                {"bench":"train","model":"mlp","recipe":"main","threads":1,"batch":64,"samples_per_s":50000,"lib":"neurite"}
                """,
            "b.jsonl": """
                {"bench":"train","model":"mlp","recipe":"plain","threads":1,"batch":64,"samples_per_s":30000,"lib":"torch"}
                {"bench":"train","model":"mlp","recipe":"main","threads":1,"batch":64,"samples_per_s":10000,"lib":"torch"}
                """])
        let a = try BenchRecord.load(path: dir.appendingPathComponent("a.jsonl").path)
        let b = try BenchRecord.load(path: dir.appendingPathComponent("b.jsonl").path)
        let c = Comparison(a, b, nameA: "neurite", nameB: "torch")
        #expect(c.rows.map(\.label) == ["train mlp plain b64", "train mlp main b64"])
        #expect(c.rows.map(\.ratio) == [2, 5])
    }

    @Test func missingFileIsNamed() {
        #expect(throws: CompareError.unreadable(path: "/nonexistent/x.jsonl", reason: "no such file")) {
            try BenchRecord.load(path: "/nonexistent/x.jsonl")
        }
    }

    @Test(arguments: [
        ("{\"bench\":\"gemm\"", "not valid JSON"),
        ("[1,2]", "not a JSON object"),
        ("{\"threads\":1,\"gflops\":2}", "\"bench\""),
        ("{\"bench\":\"gemm\",\"m\":1,\"n\":1,\"k\":1,\"threads\":0,\"gflops\":1}", "\"threads\""),
        ("{\"bench\":\"gemm\",\"m\":1,\"n\":1,\"threads\":1,\"gflops\":1}", "\"k\""),
        ("{\"bench\":\"gemm\",\"m\":1,\"n\":1,\"k\":1,\"threads\":1,\"gflops\":\"fast\"}", "\"gflops\""),
        ("{\"bench\":\"train\",\"model\":\"mlp\",\"threads\":true,\"samples_per_s\":1}", "\"threads\""),
    ])
    func malformedLineIsNamedWithFileAndLine(line: String, reason: String) throws {
        let good = #"{"bench":"peak","threads":1,"gflops":10}"#
        let dir = try fixture(["bad.jsonl": good + "\n\n" + line + "\n"])
        let path = dir.appendingPathComponent("bad.jsonl").path
        do {
            _ = try BenchRecord.load(path: path)
            Issue.record("accepted \(line)")
        } catch let error as CompareError {
            let text = error.description
            #expect(text.hasPrefix("\(path):3: "), "\(text)")
            #expect(text.contains(reason), "\(text)")
        }
    }

    @Test func commandPrintsTableOrFails() throws {
        let dir = try fixture(["a.jsonl": neurite, "b.jsonl": peer])
        let ok = try CompareCommand.parse([dir.appendingPathComponent("a.jsonl").path, dir.appendingPathComponent("b.jsonl").path])
        try ok.run()
        let bad = try CompareCommand.parse([dir.appendingPathComponent("a.jsonl").path, dir.appendingPathComponent("nope.jsonl").path])
        #expect(throws: CompareError.self) { try bad.run() }
    }
}
