"""The networks the project analyses: kinds of model (``kinds``), the two shapes a network
takes (a chain of blocks, ``chain``; a traced graph, ``graph``) behind one interface
(``base``), and each way of naming a model in a file of its own."""
