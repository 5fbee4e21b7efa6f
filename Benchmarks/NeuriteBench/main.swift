import Neurite
print("neurite-bench: threads=\(Neurite.threads) isa=\(Neurite.isa)")
