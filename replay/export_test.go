package replay

// FixedBytes exposes fixedBytes to the external tests, which size budgets
// that hold an exact number of tables.
var FixedBytes = fixedBytes

// SlotsOfClass returns the slot count of table class k.
func SlotsOfClass(k int) int { return classes[k] }

// BucketSpan is the span of timestamps one bucket holds, in ns.
const BucketSpan = bucketSpan
