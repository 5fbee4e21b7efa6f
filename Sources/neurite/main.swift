import Neurite
print("neurite: threads=\(Neurite.threads) isa=\(Neurite.isa)")
