"""forklab.course: What a lesson or an exercise uses: predictions, grading, references for forbidden cells,
variants, ask me another, output orders, fork trees and the fork game, the %%c magic and platform_report. The
top layer: it may import every other one.
"""
