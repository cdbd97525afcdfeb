// Package chain reads a subnet's neurons, and so its validators and their
// stake, from a subtensor node over JSON-RPC. It decodes the two runtime
// API answers Fiber reads, NeuronInfoRuntimeApi.get_neurons_lite and
// SubnetInfoRuntimeApi.get_metagraph (and its selective forms), with
// fixed layouts chosen by the runtime's spec version, and turns them into
// Fiber's node records under the stake rule of one Fiber version: Fiber
// 2.1's sum of the neuron's stake entries, or Fiber 2.5's metagraph total
// stake. A runtime whose layout is not known is refused, not guessed at.
package chain
