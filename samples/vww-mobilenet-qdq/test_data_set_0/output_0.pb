
BprobsJ	ÜS>þK?