import Testing
import Neurite

@Suite struct CourseExampleTests {
    /// Gradient descent reaches the normal-equations solution: ‖w − w*‖/‖w*‖ ≤ 1e-3 (measured ≈ see message).
    @Test(.enabled(if: SklearnData.isAvailable, "python3-sklearn is not installed (apt-get install python3-sklearn)"))
    func linearRegressionMatchesClosedForm() throws {
        let r = try CourseExamples.linearRegression(data: try SklearnData.diabetes())
        #expect(r.relativeError <= 1e-3, "relative error \(r.relativeError); learned \(r.learned) vs \(r.closedForm)")
    }

    @Test(.enabled(if: SklearnData.isAvailable, "python3-sklearn is not installed (apt-get install python3-sklearn)"))
    func logisticRegressionOnBreastCancer() throws {
        let r = try CourseExamples.logisticRegression(data: try SklearnData.breastCancer())
        #expect(r.testAccuracy >= 0.95, "test accuracy \(r.testAccuracy)")
    }

    @Test func xorIsSolvedByA221SigmoidNetwork() throws {
        let out = try CourseExamples.xor()
        #expect(out[0] < 0.1 && out[1] > 0.9 && out[2] > 0.9 && out[3] < 0.1, "outputs \(out)")
    }
}
