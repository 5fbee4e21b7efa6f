import Testing
import Neurite

@Test func neuriteReexportsTheTensorEngine() {
    #expect(Tensor(shape: [3], repeating: 2).scalars == [2, 2, 2])
    #expect(Runtime.threads >= 1)
}
