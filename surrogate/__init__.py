"""surrogate: the learning side of iahemo (segmentation, hemodynamics surrogate, risk model, assess, service).

May import ``cfdgen``; never the other way round.
"""
