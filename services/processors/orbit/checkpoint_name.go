package orbit

// CheckpointObject is the name of the checkpoint in Bucket (for tools that
// read its size or age).
const CheckpointObject = checkpointObject
