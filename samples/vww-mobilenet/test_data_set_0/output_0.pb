
BprobsJ¥6?õµ’>