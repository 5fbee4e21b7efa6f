// `import Neurite` brings the tensor engine too.
@_exported import NeuriteTensor
