// The command line's one door to commander (one module per foreign dependency): the command
// modules take its types from here, so a change of commander's API is met in one place.
export { Command, CommanderError, Option } from 'commander';
